import type { KernelCase } from '../harness.ts';

// Filled in with the linear kernel family.
export const linearCases: KernelCase[] = [];
