import type { KernelCase } from '../harness.ts';

// Filled in with the batchnorm kernel family.
export const batchnormCases: KernelCase[] = [];
