import type { KernelCase } from '../harness.ts';

// Filled in with the pooling kernel family.
export const poolingCases: KernelCase[] = [];
