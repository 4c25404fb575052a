import type { KernelCase } from '../harness.ts';

// Filled in with the loss kernel family.
export const lossCases: KernelCase[] = [];
