import type { KernelCase } from '../harness.ts';

// Filled in with the reduce kernel family.
export const reduceCases: KernelCase[] = [];
