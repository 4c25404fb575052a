import type { KernelCase } from '../harness.ts';

// Filled in with the sgd kernel family.
export const sgdCases: KernelCase[] = [];
