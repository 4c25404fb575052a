import type { KernelCase } from '../harness.ts';

// Filled in with the conv2d kernel family.
export const conv2dCases: KernelCase[] = [];
