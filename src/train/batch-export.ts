// A run's batches written out for another framework to replay (`earlyphase batches`): per
// iteration the examples of its batch in slot order, and each slot's augmentation draws. Nothing
// here re-derives them: the epoch orders come from epochOrder (what the trainer uploads), the
// host transformations from transformTrainSet, the draws from src/ref/batch.ts, the CPU mirror of
// shaders/batch.wgsl's hash (seed = the dataset's transformation seed, step = the iteration,
// b = the slot). The file is safetensors, readable by runner/tools/interop/safetensors_io.py.
import { UserError } from '../errors.ts';
import type { Dataset } from '../data/dataset.ts';
import { encodeSafetensors, type TensorInput } from '../io/safetensors.ts';
import { tensorSeed } from '../nn/init.ts';
import { augmentChoice, CROP_PAD, rotationChoice } from '../ref/batch.ts';
import { DeviceDataset, epochOrder, normalizationFor, transformTrainSet } from './device-data.ts';
import { hparamsHash, hparamsToJSON, type Hparams } from './hparams.ts';

export const BATCHES_FORMAT = 'earlyphase.batches.v1';
/** Largest file written: a bound on what a typo in --to can cost (160 epochs of CIFAR-10 take ~60 MiB). */
export const MAX_BATCHES_BYTES = 512 * 2 ** 20;

export interface BatchesRequest {
  hparams: Hparams;
  replicate: number;
  /** The training split as read from its files, before the host transformations. */
  train: Dataset;
  /** Iterations [from, to). */
  from: number;
  to: number;
  /** Also write the transformed training set's images (N×C×H×W bytes), so a replay needs no dataset reader. */
  images?: boolean;
}

/** Seed of the epoch permutations: BatchFeeder's orderSeed (src/train/device-data.ts); test/e2e/openlth-replay.test.ts fails if they part. */
export function dataOrderSeed(h: Hparams, replicate: number): number {
  return h.training.data_order_seed ?? tensorSeed(replicate, 'data_order_seed');
}

/** Whether the gather crops and flips: BatchFeeder's rule (3-channel images unless do_not_augment). */
export function augments(h: Hparams, channels: number): boolean {
  return !h.dataset.do_not_augment && channels === 3;
}

/**
 * Index in the training split of each example of the transformed set: transformTrainSet run on
 * stand-in images that hold their own index (4 bytes each), so the subsample is the one training
 * uses, by construction (random relabelling draws do not depend on the pixels either).
 */
export function sourceIndex(train: Dataset, h: Hparams, seed: number): Int32Array {
  const ids = new Uint8Array(train.count * 4);
  const w = new DataView(ids.buffer);
  for (let i = 0; i < train.count; i++) w.setUint32(4 * i, i, true);
  const t = transformTrainSet({ ...train, images: ids, channels: 1, height: 1, width: 4 }, h, seed);
  const r = new DataView(t.images.buffer, t.images.byteOffset, t.images.byteLength);
  return Int32Array.from({ length: t.count }, (_, j) => r.getUint32(4 * j, true));
}

/** The whole export as safetensors bytes; errors (a bad range, a file past MAX_BATCHES_BYTES) before any work. */
export function encodeBatches(q: BatchesRequest): Uint8Array {
  const h = q.hparams, d = q.train, B = h.dataset.batch_size;
  const seed = DeviceDataset.transformSeedOf(h, q.replicate);
  const set = transformTrainSet(d, h, seed);
  const count = set.count, perEpoch = Math.ceil(count / B), chw = d.channels * d.height * d.width;
  if (!(Number.isSafeInteger(q.from) && Number.isSafeInteger(q.to) && q.from >= 0 && q.from < q.to)) {
    throw new UserError(`batches: the range [${q.from}, ${q.to}) holds no iteration; give --from below --to`);
  }
  const n = q.to - q.from;
  const e0 = Math.floor(q.from / perEpoch), epochs = Math.floor((q.to - 1) / perEpoch) - e0 + 1;
  const rotation = h.dataset.unsupervised_labels === 'rotation';
  const bytes = 4 * epochs * count + n * B * (4 + 3 + (rotation ? 1 : 0)) + 4 * n + 5 * count + (q.images ? count * chw : 0);
  if (bytes > MAX_BATCHES_BYTES) {
    throw new UserError(`batches: iterations [${q.from}, ${q.to}) would take ${(bytes / 2 ** 20).toFixed(0)} MiB, more than ${MAX_BATCHES_BYTES / 2 ** 20} MiB; ` +
      `export a shorter range with --from/--to${q.images ? ' or leave out --with-images' : ''}`);
  }

  const orderSeed = dataOrderSeed(h, q.replicate), pad = h.dataset.pad_last_batch, augment = augments(h, d.channels);
  const permutations = new Int32Array(epochs * count);
  const orders: Uint32Array[] = [];
  for (let e = 0; e < epochs; e++) {
    orders.push(epochOrder(count, orderSeed, e0 + e, B, pad));
    // Padded or not, an epoch's order starts with its permutation of all `count` examples.
    permutations.set(orders[e]!.subarray(0, count), e * count);
  }
  const examples = new Int32Array(n * B).fill(-1), sizes = new Int32Array(n);
  const dy = new Uint8Array(n * B), dx = new Uint8Array(n * B), flip = new Uint8Array(n * B), rot = new Uint8Array(rotation ? n * B : 0);
  for (let it = q.from; it < q.to; it++) {
    const e = Math.floor(it / perEpoch), order = orders[e - e0]!, row = (it - q.from) * B;
    // Batch i of the epoch is order[i·B, (i+1)·B), cut at the order's end: short unless padded.
    const start = (it - e * perEpoch) * B, end = Math.min(start + B, order.length);
    sizes[it - q.from] = end - start;
    for (let b = 0; b < end - start; b++) {
      const src = order[start + b]!;
      examples[row + b] = src;
      // Without augmentation the kernel's crop window sits on the image (dy = dx = padding), unflipped.
      const a = augment ? augmentChoice(seed, it, b) : { dy: CROP_PAD, dx: CROP_PAD, flip: false };
      dy[row + b] = a.dy; dx[row + b] = a.dx; flip[row + b] = a.flip ? 1 : 0;
      if (rotation) rot[row + b] = rotationChoice(seed, src);
    }
  }

  const norm = normalizationFor(h.dataset.dataset_name, d.channels);
  const tensors: Record<string, TensorInput> = {
    permutations: { shape: [epochs, count], data: permutations },
    examples: { shape: [n, B], data: examples },
    batch_sizes: { shape: [n], data: sizes },
    dy: { shape: [n, B], data: dy }, dx: { shape: [n, B], data: dx }, flip: { shape: [n, B], data: flip },
    source_index: { shape: [count], data: sourceIndex(d, h, seed) },
    labels: { shape: [count], data: Uint8Array.from(set.labels) },
  };
  if (rotation) tensors.rotation = { shape: [n, B], data: rot };
  if (q.images) tensors.images = { shape: [count, d.channels, d.height, d.width], data: set.images };
  return encodeSafetensors(tensors, {
    format: BATCHES_FORMAT,
    hparams: JSON.stringify(hparamsToJSON(h)), hparams_hash: hparamsHash(h), replicate: String(q.replicate),
    dataset_name: h.dataset.dataset_name, examples: String(count), channels: String(d.channels), height: String(d.height), width: String(d.width),
    batch_size: String(B), iterations_per_epoch: String(perEpoch),
    first_iteration: String(q.from), end_iteration: String(q.to), first_epoch: String(e0),
    pad_last_batch: String(pad), augment: String(augment), crop_padding: String(CROP_PAD),
    rotation: String(rotation), blur_factor: String(h.dataset.blur_factor ?? 1),
    normalize_mean: JSON.stringify(norm.mean), normalize_std: JSON.stringify(norm.std),
    data_order_seed: String(orderSeed), transformation_seed: String(seed),
  });
}
