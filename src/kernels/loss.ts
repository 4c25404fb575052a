// Softmax cross-entropy: the training entry (mean loss, correct count, dlogits) and the
// evaluation entry (loss sum, correct count). Both write two consecutive floats of a small
// `stats` tensor, so an epoch's or a test set's totals add up on the GPU across dispatches and
// are read back once. See shaders/loss.wgsl for what NaN logits and labels ≥ C produce.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'loss.wgsl';
const WG = 256;
const PARAMS = [['n', 'u32'], ['c', 'u32'], ['slot', 'u32'], ['accumulate', 'u32']] as const;

export interface StatsTarget {
  /**
   * f32 tensor; [slot] gets the loss, [slot + 1] the number of correct predictions (an f32,
   * exact while the accumulated count stays below 2^24 ≈ 16.7M samples: reset it every epoch).
   */
  stats: Tensor;
  slot: number;
  /** Add to the values already in stats instead of overwriting them. */
  accumulate?: boolean;
}

function checkShapes(op: string, logits: Tensor, labels: Tensor, classes: number, target: StatsTarget): void {
  assertShape(Number.isInteger(classes) && classes >= 1, `${op}: classes must be a positive integer, got ${classes}`);
  const n = labels.length;
  assertShape(n >= 1, `${op}: ${labels.name} is empty; a batch needs at least one sample`);
  assertShape(logits.length === n * classes,
    `${op}: ${logits.name} has ${logits.length} elements, expected ${n * classes} (${n} labels × ${classes} classes)`);
  const { stats, slot } = target;
  assertShape(Number.isInteger(slot) && slot >= 0 && slot + 2 <= stats.length,
    `${op}: ${stats.name} has ${stats.length} elements, slot ${slot} needs at least ${slot + 2}`);
}

function build(
  gpu: Gpu, entry: string, logits: Tensor, labels: Tensor, dlogits: Tensor | null, classes: number, target: StatsTarget,
): Dispatch {
  const uniform = createUniform(gpu, `${entry}-params`, PARAMS,
    { n: labels.length, c: classes, slot: target.slot, accumulate: target.accumulate ? 1 : 0 });
  return makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG }, label: `${entry}(${logits.name})`,
    bindings: [{ read: logits }, { read: labels }, { write: target.stats }, { uniform },
      ...(dlogits ? [{ write: dlogits }] : [])],
    workgroups: [1, 1, 1],
  });
}

/**
 * Training: stats[slot] = mean loss over the batch, stats[slot+1] = correct count (or += with
 * accumulate), dlogits = (softmax(logits) − onehot(labels)) / N.
 * logits and dlogits are [N, C] f32, labels is [N] u32.
 */
export function softmaxCrossEntropy(
  gpu: Gpu, logits: Tensor, labels: Tensor, classes: number, dlogits: Tensor, target: StatsTarget,
): Dispatch {
  const op = 'softmax_cross_entropy_forward_backward';
  checkShapes(op, logits, labels, classes, target);
  assertShape(dlogits.length === logits.length,
    `${op}: ${dlogits.name} has ${dlogits.length} elements, expected ${logits.length} (same as ${logits.name})`);
  return build(gpu, op, logits, labels, dlogits, classes, target);
}

/**
 * Evaluation: stats[slot] += Σ per-sample loss, stats[slot+1] += correct count (accumulates by
 * default, so test batches sum up; pass accumulate: false to start a fresh total).
 */
export function crossEntropyEval(gpu: Gpu, logits: Tensor, labels: Tensor, classes: number, target: StatsTarget): Dispatch {
  const op = 'cross_entropy_forward';
  checkShapes(op, logits, labels, classes, target);
  return build(gpu, op, logits, labels, null, classes, { ...target, accumulate: target.accumulate ?? true });
}
