// Pruning strategies (IMP's "prune" step) and the random-pruning baselines, as pure functions on
// host arrays in the arena layout, registered by name like OpenLTH's pruning/registry.py.
//
// Counting follows OpenLTH's sparse_global: "remaining" is every unpruned weight of every
// prunable tensor, INCLUDING tensors in layersToIgnore (OpenLTH's mask holds them and its
// test_prune_layers_to_ignore checks the pruned fraction over all of them). So after L levels
// the density over all prunable tensors — what sparsity_report.json shows — is 0.8^L, while the
// density over only the tensors actually pruned runs slightly lower (LeNet: fc.weight's 1,000
// always-kept weights are paid for by the other layers).
//
// Counts and ties. By default the rule is OpenLTH's, to the weight: count = ceil(fraction ×
// remaining) and threshold = sort(|w|)[count] (0-based, over the unpruned weights of the tensors
// that may be pruned); sparse_global keeps |w| > threshold, so it prunes count + 1 weights when
// the |w| are distinct, plus every weight tied with the threshold; sparse_layerwise keeps
// |w| >= threshold per tensor, pruning exactly count when distinct and fewer when ties straddle
// the cut. Density after L levels is then a hair under 0.8^L (LeNet level 1: 212,959 weights
// left, as OpenLTH reports, not 212,960). Where OpenLTH's index would run past the end (count
// equals the weights left) it raises; we say so in a PruningError.
//
// `pruning_exact_count` (earlyphase 0.1's rule) prunes EXACTLY count weights, the smallest |w|,
// with ties at the cut broken by arena position (earlier tensor / lower index pruned first) —
// the result of a stable sort of (|w|, index).
import { UserError } from '../errors.ts';
import type { ModelSpec } from '../nn/graph.ts';
import { tensorSeed } from '../nn/init.ts';
import { Rng } from '../rng.ts';
import { checkMask, type Layout, type MaskTensor } from './mask.ts';

export interface PruneInput {
  spec: ModelSpec;
  layout: Layout;
  /** Trained weights in the arena layout. */
  weights: Float32Array;
  /** Current mask (level L); the result is level L+1's. Not modified. */
  mask: Float32Array;
  /** Fraction of the remaining weights to prune, in (0, 1). */
  fraction: number;
  /** Prunable tensors left untouched (OpenLTH pruning_layers_to_ignore). */
  layersToIgnore: readonly string[];
  /** Prune exactly ceil(fraction × remaining) weights (earlyphase 0.1) instead of OpenLTH's threshold rule. */
  exactCount?: boolean;
}

export type PruningStrategy = (input: PruneInput, tensors: MaskTensor[]) => Float32Array;

export class PruningError extends UserError {
  override name = 'PruningError';
}

const sparseGlobal: PruningStrategy = ({ weights, mask, fraction, layersToIgnore, exactCount }, tensors) => {
  const prunable = tensors.filter((t) => t.prunable);
  let remaining = 0;
  for (const t of prunable) remaining += countKept(mask, t);
  const count = Math.ceil(fraction * remaining); // float64, like numpy's np.ceil(f * n)
  const out = mask.slice();
  const targets = prunable.filter((t) => !layersToIgnore.includes(t.name));
  if (exactCount) pruneSmallest(weights, mask, out, targets, count);
  else pruneBelowThreshold(weights, mask, out, targets, count, true);
  return out;
};

const sparseLayerwise: PruningStrategy = ({ weights, mask, fraction, layersToIgnore, exactCount }, tensors) => {
  const out = mask.slice();
  for (const t of tensors) {
    if (!t.prunable || layersToIgnore.includes(t.name)) continue;
    const count = Math.ceil(fraction * countKept(mask, t));
    if (exactCount) pruneSmallest(weights, mask, out, [t], count);
    else pruneBelowThreshold(weights, mask, out, [t], count, false);
  }
  return out;
};

export const PRUNING_STRATEGIES: ReadonlyMap<string, PruningStrategy> = new Map([
  ['sparse_global', sparseGlobal],
  ['sparse_layerwise', sparseLayerwise],
]);

/** Runs a named strategy after validating everything it is given; returns a new mask. */
export function prune(strategy: string, input: PruneInput): Float32Array {
  const fn = PRUNING_STRATEGIES.get(strategy);
  if (!fn) throw new PruningError(`unknown pruning strategy "${strategy}"; known: ${[...PRUNING_STRATEGIES.keys()].join(', ')}`);
  const { fraction } = input;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) {
    throw new PruningError(`pruning fraction ${fraction} is invalid; expected a number strictly between 0 and 1 (e.g. 0.2)`);
  }
  const tensors = checkMask(input.spec, input.layout, input.mask);
  if (input.weights.length !== input.mask.length) {
    throw new PruningError(`weights have ${input.weights.length} elements, the mask has ${input.mask.length}`);
  }
  checkIgnored(input.spec, tensors, input.layersToIgnore);
  return fn(input, tensors);
}

/** Every ignored name must be a prunable tensor of the model: a typo would silently prune the output layer. */
function checkIgnored(spec: ModelSpec, tensors: MaskTensor[], ignored: readonly string[]): void {
  const prunable = tensors.filter((t) => t.prunable).map((t) => t.name);
  for (const name of ignored) {
    if (!prunable.includes(name)) {
      const list = prunable.slice(0, 12).join(', ') + (prunable.length > 12 ? `, … (${prunable.length - 12} more)` : '');
      throw new PruningError(`layer to ignore "${name}" is not a prunable tensor of ${spec.name}; its prunable tensors are ${list}`);
    }
  }
}

function countKept(mask: Float32Array, t: MaskTensor): number {
  let n = 0;
  for (let i = t.offset; i < t.offset + t.size; i++) n += mask[i]!;
  return n;
}

/** |w| of the unpruned positions of `tensors`, in position order (a NaN weight is an error). */
function unprunedMagnitudes(weights: Float32Array, mask: Float32Array, tensors: MaskTensor[]): Float64Array {
  let n = 0;
  for (const t of tensors) n += countKept(mask, t);
  const abs = new Float64Array(n);
  let j = 0;
  for (const t of tensors) {
    for (let i = t.offset; i < t.offset + t.size; i++) {
      if (mask[i] !== 1) continue;
      const a = Math.abs(weights[i]!);
      if (Number.isNaN(a)) throw new PruningError(`weight ${t.name}[${i - t.offset}] is NaN; cannot prune a diverged network`);
      abs[j++] = a;
    }
  }
  return abs;
}

function tooFew(count: number, n: number, tensors: MaskTensor[], openlth: boolean): PruningError {
  return new PruningError(`asked to prune ${count} weights${openlth ? ' (OpenLTH\'s rule needs one more to set its threshold)' : ''} but only ${n} unpruned weights are in tensors that may be pruned ` +
    `(${tensors.map((t) => t.name).join(', ') || 'none'}); prune fewer or ignore fewer layers`);
}

/**
 * OpenLTH's rule: threshold = the count-th smallest unpruned |w| (0-based), then zero in `out`
 * every unpruned position with |w| <= threshold (`inclusive`, sparse_global) or < threshold
 * (sparse_layerwise). |w| of a float32 is exact in float64, so the comparisons are numpy's.
 */
function pruneBelowThreshold(weights: Float32Array, mask: Float32Array, out: Float32Array, tensors: MaskTensor[], count: number, inclusive: boolean): void {
  const abs = unprunedMagnitudes(weights, mask, tensors);
  if (count >= abs.length) throw tooFew(count, abs.length, tensors, true);
  const threshold = abs.slice().sort()[count]!;
  let j = 0;
  for (const t of tensors) {
    for (let i = t.offset; i < t.offset + t.size; i++) {
      if (mask[i] !== 1) continue;
      const a = abs[j++]!;
      if (a < threshold || (inclusive && a === threshold)) out[i] = 0;
    }
  }
}

/**
 * Zeroes in `out` the `count` unpruned positions (mask = 1) of `tensors` with the smallest |w|,
 * ties broken by lower arena position. Sorting a Float64Array of |w| (native numeric sort) finds
 * the cut value; a second pass in position order prunes everything below it and the first
 * `need` positions equal to it — the same set a stable (|w|, index) sort would give, without a
 * comparator sort over a million indices.
 */
function pruneSmallest(weights: Float32Array, mask: Float32Array, out: Float32Array, tensors: MaskTensor[], count: number): void {
  if (count === 0) return;
  const abs = unprunedMagnitudes(weights, mask, tensors);
  const n = abs.length;
  if (count > n) throw tooFew(count, n, tensors, false);
  const cut = abs.slice().sort()[count - 1]!;
  let below = 0;
  for (let k = 0; k < n; k++) if (abs[k]! < cut) below++;
  let need = count - below; // how many weights tied at the cut to prune, earliest first
  let j = 0;
  for (const t of tensors) {
    for (let i = t.offset; i < t.offset + t.size; i++) {
      if (mask[i] !== 1) continue;
      const a = abs[j++]!;
      if (a < cut || (a === cut && need-- > 0)) out[i] = 0;
    }
  }
}

// ---------------------------------------------------------------- random pruning baselines

export interface RandomPruneInput {
  spec: ModelSpec;
  layout: Layout;
  /** The mask whose counts are kept (usually IMP's at the same level). */
  mask: Float32Array;
  seed: number;
  /** Tensors that keep their mask as given and take no part in the shuffle. */
  layersToIgnore?: readonly string[];
}

export type RandomPruning = (input: RandomPruneInput, tensors: MaskTensor[]) => Float32Array;

/**
 * OpenLTH's randomly_prune branch shuffles the mask's values. 'layerwise' shuffles each tensor on
 * its own (same surviving count per tensor; a per-tensor stream seeded by (seed, name), so one
 * tensor's draw never depends on another's size); 'global' shuffles all positions of all tensors
 * together (same total count). OpenLTH resets ignored layers to all-ones after shuffling; we leave
 * them out of the shuffle instead, which is the same when they are dense (as IMP leaves them) and
 * keeps the global count exact when they are not.
 */
export const RANDOM_PRUNING: ReadonlyMap<string, RandomPruning> = new Map<string, RandomPruning>([
  ['layerwise', ({ mask, seed }, tensors) => {
    const out = mask.slice();
    for (const t of tensors) new Rng(tensorSeed(seed, t.name)).shuffle(out.subarray(t.offset, t.offset + t.size));
    return out;
  }],
  ['global', ({ mask, seed }, tensors) => {
    const out = mask.slice();
    const all = new Float32Array(tensors.reduce((s, t) => s + t.size, 0));
    let j = 0;
    for (const t of tensors) { all.set(mask.subarray(t.offset, t.offset + t.size), j); j += t.size; }
    new Rng(seed).shuffle(all);
    j = 0;
    for (const t of tensors) { out.set(all.subarray(j, j + t.size), t.offset); j += t.size; }
    return out;
  }],
]);

export function randomPrune(strategy: string, input: RandomPruneInput): Float32Array {
  const fn = RANDOM_PRUNING.get(strategy);
  if (!fn) throw new PruningError(`unknown random pruning strategy "${strategy}"; known: ${[...RANDOM_PRUNING.keys()].join(', ')}`);
  if (!Number.isSafeInteger(input.seed) || input.seed < 0) {
    throw new PruningError(`random pruning seed ${input.seed} is invalid; expected a non-negative integer`);
  }
  const ignored = input.layersToIgnore ?? [];
  const tensors = checkMask(input.spec, input.layout, input.mask);
  checkIgnored(input.spec, tensors, ignored);
  return fn(input, tensors.filter((t) => t.prunable && !ignored.includes(t.name)));
}
