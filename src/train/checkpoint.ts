// Checkpoints and weight files in safetensors. A weights file holds every parameter and batch-norm
// running statistic under its OpenLTH name, plus each batch-norm layer's `num_batches_tracked`
// (src/train/bn-counters.ts), so it loads into OpenLTH's PyTorch models with strict=True; a
// checkpoint adds the optimiser's buffers under PyTorch's state names (SGD: `momentum/<name>`;
// Adam: `exp_avg/<name>`, `exp_avg_sq/<name>`), and the iteration and the optimiser's step count
// (Adam's t) in its metadata — everything needed to continue bitwise-identically (data order and
// augmentation are pure functions of seeds and the iteration).
import { decodeSafetensors, encodeSafetensors, expectTensors, type Tensor, type TensorSpec } from '../io/safetensors.ts';
import { CorruptFileError } from './storage.ts';
import { checkCounters, counterSpecs, counterTensors } from './bn-counters.ts';
import type { Arena } from '../gpu/tensor.ts';
import type { OptimizerLayout, OptimizerState } from './optimizer.ts';
import type { ScalerCheckpoint } from './amp.ts';

export const CHECKPOINT_FORMAT = 'earlyphase.checkpoint.v1';
export const WEIGHTS_FORMAT = 'earlyphase.weights.v1';

export interface HostState {
  params: Float32Array;
  stats: Float32Array;
}

export interface CheckpointState extends HostState {
  optimizer: OptimizerState;
  /** Mixed precision (--apex-fp16): the loss scaler, in the metadata as amp_scale and amp_growth_tracker. */
  amp?: ScalerCheckpoint;
}

function tensorsOf(arena: Arena, flat: Float32Array, prefix = ''): Record<string, { shape: number[]; data: Float32Array }> {
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const { name, offset, shape } of arena.layout()) {
    out[prefix + name] = { shape, data: flat.slice(offset, offset + shape.reduce((a, b) => a * b, 1)) };
  }
  return out;
}

function specs(arena: Arena, prefix = ''): Record<string, TensorSpec> {
  const out: Record<string, TensorSpec> = {};
  for (const { name, shape } of arena.layout()) out[prefix + name] = { shape, dtype: 'F32' };
  return out;
}

function unpack(arena: Arena, tensors: Map<string, Tensor>, prefix = ''): Float32Array {
  const flat = new Float32Array(arena.elements);
  for (const { name, offset } of arena.layout()) flat.set(tensors.get(prefix + name)!.data as Float32Array, offset);
  return flat;
}

/** `meta.iteration` (decimal digits) is required: it is also the batch-norm layers' `num_batches_tracked`. */
export function encodeWeights(params: Arena, stats: Arena, s: HostState, meta: Record<string, string>): Uint8Array {
  const iteration = metaInt(meta.iteration);
  if (iteration === null) throw new Error(`encodeWeights: metadata iteration ${JSON.stringify(meta.iteration)} is not decimal digits`);
  return encodeSafetensors({ ...tensorsOf(params, s.params), ...tensorsOf(stats, s.stats), ...counterTensors(stats, iteration) }, { format: WEIGHTS_FORMAT, ...meta });
}

export function encodeCheckpoint(params: Arena, stats: Arena, s: CheckpointState, iteration: number, meta: Record<string, string>): Uint8Array {
  const optimizer = Object.entries(s.optimizer.buffers).map(([buffer, flat]) => tensorsOf(params, flat, `${buffer}/`));
  return encodeSafetensors(
    Object.assign({ ...tensorsOf(params, s.params), ...tensorsOf(stats, s.stats), ...counterTensors(stats, iteration) }, ...optimizer),
    { format: CHECKPOINT_FORMAT, iteration: String(iteration), optimizer_steps: String(s.optimizer.steps), ...(s.amp ? scalerMeta(s.amp) : {}), ...meta },
  );
}

function scalerMeta(s: ScalerCheckpoint): Record<string, string> {
  return { amp_scale: String(s.scale), amp_growth_tracker: String(s.growthTracker) };
}

/** The loss scaler a mixed-precision run's checkpoint must hold: a power of two and a count below the growth interval. */
function readScaler(meta: Record<string, string> | undefined, file: string): ScalerCheckpoint {
  const scale = meta?.amp_scale !== undefined && /^\d+(\.\d+)?(e[+-]?\d+)?$/.test(meta.amp_scale) ? Number(meta.amp_scale) : NaN;
  const tracker = metaInt(meta?.amp_growth_tracker);
  if (!(scale > 0 && Number.isFinite(scale) && Number.isInteger(Math.log2(scale))) || tracker === null) {
    throw new CorruptFileError(file, 'metadata must hold the loss scaler of this mixed-precision run (amp_scale, a power of two, and amp_growth_tracker)');
  }
  return { scale, growthTracker: tracker };
}

/** Where a run's checkpoints can be: after `start`, at an epoch end (or the last iteration), never past `total`. */
export interface CheckpointBounds { start: number; total: number; perEpoch: number }

/** A metadata count as we write it: plain decimal digits, no sign, exponent, hex or leading zeros. */
function metaInt(v: string | undefined): number | null {
  return v !== undefined && /^(0|[1-9]\d{0,14})$/.test(v) ? Number(v) : null;
}

/**
 * Strict load: every tensor the model has, with its shape, and nothing else; errors name the file.
 * With `iteration`, the file's metadata must name that iteration (the one its file name says).
 */
export function decodeWeights(bytes: Uint8Array, file: string, params: Arena, stats: Arena, iteration?: number): HostState {
  const f = decodeSafetensors(bytes, file);
  expectTensors(f, { ...specs(params), ...specs(stats), ...counterSpecs(stats, f) }, file);
  checkCounters(f, file);
  if (iteration !== undefined && f.metadata?.iteration !== undefined && metaInt(f.metadata.iteration) !== iteration) {
    const shown = f.metadata.iteration.length > 20 ? `${f.metadata.iteration.slice(0, 20)}…` : f.metadata.iteration;
    throw new CorruptFileError(file, `metadata iteration "${shown}" is not ${iteration}, the iteration its name says`);
  }
  checkFinite(f.tensors, file);
  return { params: unpack(params, f.tensors), stats: unpack(stats, f.tensors) };
}

/**
 * Strict load of a checkpoint, cross-checked against the run it resumes (`bounds`): a well-formed
 * file naming an iteration the run never checkpoints at ("95" mid-epoch, "1e2", "0x64", past the
 * end) would resume from the wrong place and silently change the result.
 */
export function decodeCheckpoint(bytes: Uint8Array, file: string, params: Arena, stats: Arena, optimizer: OptimizerLayout, bounds: CheckpointBounds,
  o: { amp?: boolean } = {}): CheckpointState & { iteration: number; adapter?: string } {
  const f = decodeSafetensors(bytes, file);
  expectTensors(f, Object.assign({ ...specs(params), ...specs(stats), ...counterSpecs(stats, f) }, ...optimizer.buffers.map((b) => specs(params, `${b}/`))), file);
  checkCounters(f, file);
  const iteration = metaInt(f.metadata?.iteration);
  if (f.metadata?.format !== CHECKPOINT_FORMAT || iteration === null) {
    throw new CorruptFileError(file, `metadata must name format ${CHECKPOINT_FORMAT} and an iteration in decimal digits`);
  }
  const { start, total, perEpoch } = bounds;
  if (iteration <= start || iteration > total || (iteration % perEpoch !== 0 && iteration !== total)) {
    throw new CorruptFileError(file, `iteration ${iteration} is not where this run checkpoints (an epoch end of ${perEpoch} iterations after ${start}, at most ${total})`);
  }
  // SGD ignores the count, so its checkpoints written before the count was recorded stay valid.
  const steps = f.metadata?.optimizer_steps === undefined && !optimizer.countsSteps ? 0 : metaInt(f.metadata?.optimizer_steps);
  if (steps === null || steps > iteration) {
    throw new CorruptFileError(file, `metadata must hold the optimiser's step count (an integer from 0 to the iteration ${iteration})`);
  }
  checkFinite(f.tensors, file);
  const buffers = Object.fromEntries(optimizer.buffers.map((b) => [b, unpack(params, f.tensors, `${b}/`)]));
  // The adapter that wrote it (metadata "adapter"): resuming on another one loses bitwise identity.
  const adapter = typeof f.metadata?.adapter === 'string' ? f.metadata.adapter : undefined;
  const amp = o.amp ? readScaler(f.metadata, file) : undefined;
  return { params: unpack(params, f.tensors), stats: unpack(stats, f.tensors), optimizer: { buffers, steps }, iteration, ...(adapter ? { adapter } : {}), ...(amp ? { amp } : {}) };
}

function checkFinite(tensors: Map<string, Tensor>, file: string): void {
  for (const [name, t] of tensors) {
    if (t.data instanceof BigInt64Array) continue; // batch-norm counters: integers, checked by checkCounters
    for (let i = 0; i < t.data.length; i++) {
      if (!Number.isFinite(t.data[i]!)) throw new CorruptFileError(file, `tensor ${name} holds a non-finite value at index ${i}`);
    }
  }
}
