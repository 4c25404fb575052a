// Builds each training batch on the GPU from the dataset uploaded once as bytes (shaders/batch.wgsl):
// gather by the data order, OpenLTH's transforms (rotation task, crop + flip, blur), normalisation.
//
// Data order: `order` is any u32 tensor of example indices (each < count), e.g. the epoch's
// permutation uploaded once per epoch; setStep(offset, step) picks the slice order[offset ..
// offset+batch) and the step number that keys the crop/flip draws. It writes 8 bytes of the
// uniform with queue.writeBuffer (ordered before the next submit), so the dispatch is built once.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { createUniform, writeUniform } from '../gpu/uniforms.ts';

const SHADER = 'batch.wgsl';
const WG = 256;
/** torchvision RandomCrop(32, padding=4), as OpenLTH uses for CIFAR-10. */
const CROP_PAD = 4;
const PARAMS = [['batch', 'u32'], ['split', 'u32'], ['seed', 'u32'], ['offset', 'u32'], ['step', 'u32']] as const;
// setStep rewrites offset and step together: they must stay adjacent in the struct.
const STEP_BYTE_OFFSET = PARAMS.findIndex(([name]) => name === 'offset') * 4;

/** Example-aligned slice of the packed image bytes: one storage binding. */
export interface ImageShard {
  /** u32 words holding the shard's bytes from its first example, 4 per word little-endian. */
  tensor: Tensor;
  examples: number;
}

export interface BatchData {
  /**
   * One shard, or two when the set exceeds the adapter's maxStorageBufferBindingSize (lavapipe:
   * 128 MiB, CIFAR-10 train: 154 MB); see packImageShards.
   */
  images: readonly ImageShard[];
  /** u32 [count]. */
  labels: Tensor;
  count: number;
  channels: number;
  height: number;
  width: number;
}

export interface BatchOutputs {
  /** f32 [batch, channels, height, width]. */
  x: Tensor;
  /** u32 [batch]. */
  labels: Tensor;
}

export interface BatchOptions {
  batch: number;
  /** Per-channel normalisation, as torchvision Normalize(mean, std) after ToTensor's /255. */
  mean: readonly number[];
  std: readonly number[];
  /** Random crop (zero padding 4) + horizontal flip, p = 0.5 each; keyed on (seed, step, batch slot). */
  augment: boolean;
  /** Self-supervised rotation: rotate by r·90° CCW, r keyed on (seed, example); label := r. Square images only. */
  rotation: boolean;
  /** Box-blur factor f (1 = off): f×f block means, nearest upsampling; f must divide height and width. */
  blurFactor: number;
  /** u32 seed of all random transforms. */
  seed: number;
}

export interface BatchGather {
  dispatch: Dispatch;
  /** Gather order[offset .. offset+batch) with the draws of training step `step`; takes effect from the next submit. */
  setStep(offset: number, step: number): void;
}

const MAX_U32 = 0xffffffff;

function isU32(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= MAX_U32;
}

/**
 * Normalised value of every possible byte, per channel, rounded in float32 step by step as
 * PyTorch computes ToTensor then Normalize: ((v / 255) − mean) / std. A lookup makes the GPU
 * result independent of the adapter's division accuracy (WGSL allows 2.5 ulp) and of FMA contraction.
 */
function normalisationTable(mean: readonly number[], std: readonly number[]): Float32Array {
  const f = Math.fround;
  const table = new Float32Array(mean.length * 256);
  for (let c = 0; c < mean.length; c++) {
    for (let v = 0; v < 256; v++) table[c * 256 + v] = f(f(f(v / 255) - f(mean[c]!)) / f(std[c]!));
  }
  return table;
}

export function batchGather(gpu: Gpu, data: BatchData, order: Tensor, out: BatchOutputs, o: BatchOptions): BatchGather {
  const { count, channels: C, height: H, width: W } = data;
  const op = 'batch_gather';
  for (const [k, v] of Object.entries({ count, channels: C, height: H, width: W, batch: o.batch })) {
    assertShape(Number.isInteger(v) && v > 0, `${op}: ${k} must be a positive integer, got ${v}`);
  }
  const chw = C * H * W;
  assertShape(data.images.length === 1 || data.images.length === 2,
    `${op}: images must be 1 or 2 shards, got ${data.images.length}`);
  const held = data.images.reduce((a, s) => a + s.examples, 0);
  assertShape(held === count, `${op}: image shards hold ${held} examples, expected ${count}`);
  for (const s of data.images) {
    const words = Math.ceil(s.examples * chw / 4);
    assertShape(s.tensor.length === words,
      `${op}: ${s.tensor.name} has ${s.tensor.length} elements, expected ${words} (${s.examples}×${C}×${H}×${W} bytes, 4 per word)`);
  }
  assertShape(data.labels.length === count, `${op}: ${data.labels.name} has ${data.labels.length} elements, expected ${count}`);
  assertShape(order.length >= o.batch, `${op}: ${order.name} has ${order.length} elements, expected at least batch=${o.batch}`);
  assertShape(out.x.length === o.batch * chw,
    `${op}: ${out.x.name} has ${out.x.length} elements, expected ${o.batch * chw} (${o.batch}×${C}×${H}×${W})`);
  assertShape(out.labels.length === o.batch, `${op}: ${out.labels.name} has ${out.labels.length} elements, expected ${o.batch}`);
  assertShape(o.mean.length === C && o.std.length === C,
    `${op}: mean and std need ${C} values (one per channel), got ${o.mean.length} and ${o.std.length}`);
  assertShape(!o.rotation || H === W, `${op}: rotation needs square images, got ${H}×${W}`);
  assertShape(Number.isInteger(o.blurFactor) && o.blurFactor >= 1 && H % o.blurFactor === 0 && W % o.blurFactor === 0,
    `${op}: blur factor ${o.blurFactor} must be a positive integer dividing ${H} and ${W}`);
  if (!o.mean.every(Number.isFinite) || !o.std.every((s) => Number.isFinite(s) && s > 0)) {
    throw new RangeError(`${op}: mean must be finite and std finite and > 0, got mean [${o.mean}] std [${o.std}]`);
  }
  if (!isU32(o.seed)) throw new RangeError(`${op}: seed must be a u32, got ${o.seed}`);

  // Static like the uniform: 1 KiB per channel, built once with the dispatch.
  const table = createTensor(gpu, `${op}-table`, [C, 256], normalisationTable(o.mean, o.std));
  const uniform = createUniform(gpu, `${op}-params`, PARAMS, {
    batch: o.batch, split: data.images[0]!.examples, seed: o.seed, offset: 0, step: 0,
  }, { mutable: true });
  // With one shard it is bound twice (read-only bindings may alias); split = count never reads the second.
  const [lo, hi = lo] = data.images;
  const dispatch = makeDispatch(gpu, {
    shader: SHADER, entry: op, label: `${op}(${out.x.name})`,
    // Shape and transforms as override constants: see shaders/batch.wgsl.
    constants: {
      WG, PAD: CROP_PAD, CHANNELS: C, HEIGHT: H, WIDTH: W, BLUR: o.blurFactor,
      AUGMENT: o.augment ? 1 : 0, ROTATE: o.rotation ? 1 : 0,
    },
    bindings: [{ read: lo!.tensor }, { read: hi!.tensor }, { read: data.labels }, { read: order }, { read: table },
      { write: out.x }, { write: out.labels }, { uniform }],
    workgroups: grid1d(o.batch * chw, WG),
    // It binds the whole dataset but reads one batch: its image bytes (1 per pixel), labels and
    // order entries, the table; it writes the f32 images and the labels.
    bytes: o.batch * (chw + 4 + 4) + table.length * 4 + o.batch * (chw * 4 + 4),
  });
  return {
    dispatch,
    setStep(offset: number, step: number) {
      if (!isU32(offset) || offset + o.batch > order.length) {
        throw new RangeError(`${op}: offset ${offset} + batch ${o.batch} runs past ${order.name} (${order.length} elements)`);
      }
      if (!isU32(step)) throw new RangeError(`${op}: step must be a u32, got ${step}`);
      writeUniform(gpu, uniform, STEP_BYTE_OFFSET, new Uint32Array([offset, step]));
    },
  };
}

/**
 * Packs N×C×H×W image bytes into example-aligned shards of at most `maxBindingBytes` each (pass
 * gpu.device.limits.maxStorageBufferBindingSize); upload each `words` with createTensor. The
 * bytes are copied verbatim, so the GPU's little-endian u32 view puts byte i at bits 8·(i mod 4).
 */
export function packImageShards(images: Uint8Array, exampleBytes: number, maxBindingBytes: number): { words: Uint32Array; examples: number }[] {
  assertShape(Number.isInteger(exampleBytes) && exampleBytes > 0 && images.length % exampleBytes === 0,
    `packImageShards: ${images.length} image bytes are not a whole number of ${exampleBytes}-byte examples`);
  const count = images.length / exampleBytes;
  // Whole examples whose bytes, rounded up to a word, fit one binding.
  const perShard = Math.floor((Math.floor(maxBindingBytes / 4) * 4) / exampleBytes);
  const sizes = count <= perShard ? [count] : [perShard, count - perShard];
  if (perShard < 1 || sizes[1]! > perShard) {
    throw new RangeError(`packImageShards: ${count} examples of ${exampleBytes} bytes need more than two ` +
      `${maxBindingBytes}-byte storage bindings`);
  }
  let at = 0;
  return sizes.map((examples) => {
    const bytes = new Uint8Array(Math.ceil(examples * exampleBytes / 4) * 4);
    bytes.set(images.subarray(at, at + examples * exampleBytes));
    at += examples * exampleBytes;
    return { words: new Uint32Array(bytes.buffer), examples };
  });
}
