// The branch perturbations by name, in the order --help lists them. Adding a branch = one file
// with defineBranch(...) and one line here.
import { UserError } from '../../errors.ts';
import { resolveBranchOptions } from './define.ts';
import { gaussianNoise } from './gaussian-noise.ts';
import { mixSignsMagnitudes } from './mix-signs-magnitudes.ts';
import { randomlyReinitialize } from './randomly-reinitialize.ts';
import { shuffleWeights } from './shuffle-weights.ts';
import { signPreservingReinit } from './sign-preserving-reinit.ts';
import type { LooseSpec } from '../../train/hparams/schema.ts';
import type { BranchInput } from './types.ts';

/**
 * A branch seen without its options' static type (CLI, docs, runner): options are checked at run
 * time. Branch option types are `type` aliases, not interfaces, so that they fit Record<string, unknown>.
 */
export interface AnyBranch {
  readonly name: string;
  readonly description: string;
  readonly options: Readonly<Record<string, LooseSpec>>;
  apply(input: BranchInput<Record<string, unknown>>): Float32Array;
}

export const BRANCHES: readonly AnyBranch[] = [
  signPreservingReinit,
  mixSignsMagnitudes,
  shuffleWeights,
  gaussianNoise,
  randomlyReinitialize,
];

export class UnknownBranchError extends UserError { override name = 'UnknownBranchError'; }

export function branchNames(): string[] {
  return BRANCHES.map((b) => b.name);
}

export function getBranch(name: string): AnyBranch {
  const b = BRANCHES.find((x) => x.name === name);
  if (!b) throw new UnknownBranchError(`unknown branch ${JSON.stringify(name)}; expected one of ${branchNames().join(', ')}`);
  return b;
}

/** Looks a branch up by name and applies it; options are loose values (from JSON or parsed flags). */
export function applyBranch(name: string, input: BranchInput<Record<string, unknown>>): Float32Array {
  const branch = getBranch(name);
  return branch.apply({ ...input, options: resolveBranchOptions(branch, input.options) });
}

export type { Branch, BranchInput, LayoutEntry } from './types.ts';
export { resolveBranchOptions, parseBranchOptions } from './define.ts';
export { freshInitSeed } from './tensors.ts';
