// Shared plumbing for branches: check that an input is self-consistent, walk its tensors, and
// build the starting point every branch perturbs — the rewound weights (mask ⊙ w_k on prunable
// tensors, w_k elsewhere, padding 0). Branches then only rewrite surviving prunable positions,
// which is what makes "pruned stays 0, non-prunable untouched" hold by construction.
import { UserError } from '../../errors.ts';
import { Arena } from '../../gpu/tensor.ts';
import { parameters, type ParamSpec } from '../../nn/graph.ts';
import { initParameters, tensorSeed } from '../../nn/init.ts';
import type { BranchInput } from './types.ts';

/** A tensor of the layout with its parameter spec; `length` excludes the alignment padding. */
export interface Slot { readonly name: string; readonly param: ParamSpec; readonly offset: number; readonly length: number }

/** Checks lengths, names, bounds, the seed and the mask's values; returns the layout's tensors. */
export function checkInput(input: BranchInput<unknown>): Slot[] {
  const { spec, layout, mask, w0, wk, seed } = input;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`branch seed: invalid value ${seed}; expected an integer in [0, 4294967295]`);
  }
  const params = new Map(parameters(spec.layers).map((p) => [p.name, p]));
  const size = wk.length;
  for (const [label, a] of [['mask', mask], ['w0', w0]] as const) {
    if (a.length !== size) throw new UserError(`branch input: ${label} has ${a.length} elements but wk has ${size}; all must follow the same arena layout`);
  }
  const slots: Slot[] = [];
  for (const { name, offset, shape } of layout) {
    const param = params.get(name);
    if (!param) throw new UserError(`branch input: layout tensor ${name} is not a parameter of ${spec.name}`);
    const length = shape.reduce((a, b) => a * b, 1);
    if (offset < 0 || offset + length > size) {
      throw new UserError(`branch input: tensor ${name} [${offset}, ${offset + length}) lies outside the ${size}-element weights`);
    }
    if (param.prunable) {
      for (let i = offset; i < offset + length; i++) {
        if (mask[i] !== 0 && mask[i] !== 1) throw new UserError(`branch input: mask of ${name} holds ${mask[i]} at element ${i - offset}; expected 0 or 1`);
      }
    }
    slots.push({ name, param, offset, length });
  }
  return slots;
}

/** The rewound weights: mask ⊙ w_k on prunable tensors, w_k on the rest, 0 in padding. */
export function rewound(input: BranchInput<unknown>, slots: readonly Slot[]): Float32Array {
  const { mask, wk } = input;
  const out = new Float32Array(wk.length);
  for (const s of slots) {
    // A select, not mask * wk: the product would leave -0 where a negative weight was pruned.
    for (let i = s.offset; i < s.offset + s.length; i++) out[i] = !s.param.prunable || mask[i] === 1 ? wk[i]! : 0;
  }
  return out;
}

/** Absolute indices of the surviving (mask = 1) positions of a tensor, in order. */
export function survivors(mask: Float32Array, s: Slot): number[] {
  const idx: number[] = [];
  for (let i = s.offset; i < s.offset + s.length; i++) if (mask[i] === 1) idx.push(i);
  return idx;
}

/**
 * The seed of a branch's fresh init draw. Derived from, not equal to, the branch seed: a caller
 * that passes the replicate's own model seed would otherwise "redraw" exactly w_0 and silently
 * turn a fresh-magnitude experiment into a step-0 one.
 */
export function freshInitSeed(seed: number): number {
  return tensorSeed(seed, 'earlyphase/branch/fresh_init');
}

/** A per-tensor random stream for one branch: independent across branches, tensors and seeds. */
export function branchStreamSeed(seed: number, branch: string, tensor: string): number {
  return tensorSeed(seed, `earlyphase/branch/${branch}/${tensor}`);
}

/** A fresh initialisation (src/nn/init.ts) in the input's layout, seeded by freshInitSeed(seed). */
export function freshInit(input: BranchInput<unknown>): Float32Array {
  // initParameters walks an Arena; rebuild one from the layout (no GPU needed) and insist the
  // offsets agree, so the draw lands on the same positions as w_k.
  const arena = new Arena('branch-fresh-init');
  for (const e of input.layout) arena.add(e.name, e.shape);
  const got = arena.layout();
  input.layout.forEach((e, i) => {
    if (got[i]!.offset !== e.offset) {
      throw new UserError(`branch input: tensor ${e.name} sits at offset ${e.offset} but an arena of this layout puts it at ${got[i]!.offset}; pass Arena.layout() unchanged`);
    }
  });
  const fresh = initParameters(input.spec, arena, freshInitSeed(input.seed), input.bnInit ?? 'uniform');
  if (fresh.length === input.wk.length) return fresh;
  // The weights may be longer than this arena (e.g. trailing padding); copy tensor by tensor.
  const out = new Float32Array(input.wk.length);
  for (const e of got) out.set(fresh.subarray(e.offset, e.offset + e.shape.reduce((a, b) => a * b, 1)), e.offset);
  return out;
}

/** −1, 0 or +1; ±0 map to +0 so a zero weight stays a plain zero. */
export function signOf(x: number): number {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}
