// The datasets on the GPU: uploaded once as bytes, batches gathered and augmented there
// (src/kernels/batch.ts). Host-side dataset options from OpenLTH (subsample, random labels,
// rotation labels) only rewrite the index/label arrays before upload.
import type { Gpu } from '../gpu/gpu.ts';
import { createTensor, upload, type Tensor } from '../gpu/tensor.ts';
import { batchGather, packImageShards, type BatchData, type BatchGather } from '../kernels/batch.ts';
import type { Dataset, DatasetSplits } from '../data/dataset.ts';
import type { CompiledModel } from '../nn/compile.ts';
import type { Hparams } from './hparams.ts';
import { Rng } from '../rng.ts';
import { tensorSeed } from '../nn/init.ts';

/** torchvision Normalize constants per dataset (CIFAR-10: OpenLTH uses ImageNet's). */
const NORMALIZATION: Record<string, { mean: number[]; std: number[] }> = {
  mnist: { mean: [0.1307], std: [0.3081] },
  fashion_mnist: { mean: [0.2860], std: [0.3530] },
  cifar10: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

export function normalizationFor(name: string, channels: number): { mean: number[]; std: number[] } {
  return NORMALIZATION[name] ?? { mean: Array(channels).fill(0.5), std: Array(channels).fill(0.25) };
}

/** Output classes of the task: 4 for the rotation-prediction task, else the dataset's. */
export function taskClasses(h: Hparams, datasetClasses: number): number {
  return h.dataset.unsupervised_labels === 'rotation' ? 4 : datasetClasses;
}

/** Training examples after `subsample_fraction`: ceil(count × fraction), as numpy's np.ceil in OpenLTH. */
export function trainExamples(h: Hparams, count: number): number {
  return h.dataset.subsample_fraction === undefined ? count : Math.ceil(count * h.dataset.subsample_fraction);
}

/**
 * OpenLTH's dataset transformations on the host, in its order (datasets/registry.py): random
 * labels over the whole training set, then the subsample; both counts are ceil(n × fraction).
 * The draws are ours (a seeded Rng, not numpy's), so the examples chosen differ from OpenLTH's.
 */
export function transformTrainSet(d: Dataset, h: Hparams, seed: number): { images: Uint8Array; labels: Uint8Array; count: number } {
  let { images, labels, count } = d;
  const chw = d.channels * d.height * d.width;
  const rng = new Rng(tensorSeed(seed, 'dataset'));
  if (h.dataset.random_labels_fraction !== undefined) {
    labels = Uint8Array.from(labels);
    const n = Math.ceil(count * h.dataset.random_labels_fraction);
    const idx = Uint32Array.from({ length: count }, (_, i) => i);
    rng.shuffle(idx);
    for (let j = 0; j < n; j++) labels[idx[j]!] = rng.int(d.classes);
  }
  if (h.dataset.subsample_fraction !== undefined) {
    const keep = trainExamples(h, count);
    const idx = Uint32Array.from({ length: count }, (_, i) => i);
    rng.shuffle(idx);
    const chosen = [...idx.subarray(0, keep)].sort((a, b) => a - b);
    const img = new Uint8Array(keep * chw), lab = new Uint8Array(keep);
    chosen.forEach((s, j) => { img.set(images.subarray(s * chw, (s + 1) * chw), j * chw); lab[j] = labels[s]!; });
    images = img; labels = lab; count = keep;
  }
  return { images, labels, count };
}

function uploadSet(gpu: Gpu, name: string, d: Dataset, images: Uint8Array, labels: Uint8Array, count: number): BatchData {
  const chw = d.channels * d.height * d.width;
  const shards = packImageShards(images, chw, gpu.device.limits.maxStorageBufferBindingSize).map((s, i) => ({
    tensor: createTensor(gpu, `${name}.images${i}`, [s.words.length], s.words), examples: s.examples,
  }));
  return {
    images: shards, labels: createTensor(gpu, `${name}.labels`, [count], Uint32Array.from(labels)),
    count, channels: d.channels, height: d.height, width: d.width,
  };
}

export class DeviceDataset {
  readonly train: BatchData;
  readonly test: BatchData;
  /** Output classes of the task: 4 for the rotation task, else the dataset's. */
  readonly classes: number;
  readonly norm: { mean: number[]; std: number[] };
  /** Seed of every random transform (augmentation, rotation, relabelling). */
  readonly transformSeed: number;

  /**
   * `sameUpload`: a dataset whose uploaded sets are exactly what this one would upload (the
   * members of a pack with the same host transformations, src/train/train-pack.ts): its buffers
   * are reused instead of uploading the images again.
   */
  constructor(private readonly gpu: Gpu, splits: DatasetSplits, readonly h: Hparams, replicate: number, sameUpload?: DeviceDataset) {
    this.transformSeed = DeviceDataset.transformSeedOf(h, replicate);
    if (sameUpload) {
      ({ train: this.train, test: this.test } = sameUpload);
    } else {
      const t = transformTrainSet(splits.train, h, this.transformSeed);
      this.train = uploadSet(gpu, 'train', splits.train, t.images, t.labels, t.count);
      this.test = uploadSet(gpu, 'test', splits.test, splits.test.images, splits.test.labels, splits.test.count);
    }
    this.classes = taskClasses(h, splits.train.classes);
    this.norm = normalizationFor(h.dataset.dataset_name, splits.train.channels);
  }

  static transformSeedOf(h: Hparams, replicate: number): number {
    return h.dataset.transformation_seed ?? tensorSeed(replicate, 'transformation_seed');
  }

  get trainCount(): number { return this.train.count; }
  get testCount(): number { return this.test.count; }

  gather(data: BatchData, order: Tensor, x: Tensor, labels: Tensor, batch: number, augment: boolean): BatchGather {
    return batchGather(this.gpu, data, order, { x, labels }, {
      batch, mean: this.norm.mean, std: this.norm.std, augment,
      rotation: this.h.dataset.unsupervised_labels === 'rotation', blurFactor: this.h.dataset.blur_factor ?? 1, seed: this.transformSeed,
    });
  }
}

/**
 * The epoch's order of training examples: a permutation seeded by (data order seed, epoch). Batch
 * i of the epoch is order[i·batch, (i+1)·batch), the last one short when batch does not divide
 * the count, as PyTorch's DataLoader makes it for OpenLTH. `pad` (pad_last_batch, earlyphase 0.1)
 * fills the last batch by wrapping around to the permutation's start instead.
 */
export function epochOrder(count: number, seed: number, epoch: number, batch: number, pad = false): Uint32Array {
  const perm = Uint32Array.from({ length: count }, (_, i) => i);
  new Rng(tensorSeed(seed, `epoch${epoch}`)).shuffle(perm);
  if (!pad) return perm;
  const out = new Uint32Array(Math.ceil(count / batch) * batch);
  for (let i = 0; i < out.length; i++) out[i] = perm[i % count]!;
  return out;
}

/** Examples in the last batch of an epoch: the remainder, or the full batch when it divides the count or the batch is padded. */
export function lastBatchSize(count: number, batch: number, pad: boolean): number {
  return pad || count % batch === 0 ? batch : count % batch;
}

/**
 * Feeds the training model: the gather dispatch, its order tensor, and the per-step offset. With a
 * `short` model (the epoch's short last batch) it has a second gather into that model's input and
 * the leading part of the labels. Its buffers belong to whoever builds it (a TrainPack collects them).
 */
export class BatchFeeder {
  readonly labels: Tensor;
  /** The labels of the short last batch: the leading part of `labels`. */
  readonly shortLabels: Tensor | null;
  readonly orderSeed: number;
  private readonly order: Tensor;
  private readonly g: BatchGather;
  private readonly shortGather: BatchGather | null;
  private readonly pad: boolean;
  private readonly perEpoch: number;

  constructor(private readonly gpu: Gpu, private readonly dev: DeviceDataset, model: CompiledModel, h: Hparams, replicate: number, short?: CompiledModel) {
    const batch = model.batch;
    this.pad = h.dataset.pad_last_batch;
    this.perEpoch = Math.ceil(dev.trainCount / batch);
    this.orderSeed = h.training.data_order_seed ?? tensorSeed(replicate, 'data_order_seed');
    // At least one batch long: with fewer examples than a batch, the full-batch gather is built
    // (and never run: every step is the short one) and must still be given an order it fits in.
    this.order = createTensor(gpu, 'epoch_order', [this.pad ? this.perEpoch * batch : Math.max(dev.trainCount, batch)]);
    this.labels = createTensor(gpu, 'batch_labels', [batch]);
    const augment = !h.dataset.do_not_augment && dev.train.channels === 3;
    this.g = dev.gather(dev.train, this.order, model.input, this.labels, batch, augment);
    if (short) {
      this.shortLabels = { ...this.labels, name: 'short_batch_labels', length: short.batch, shape: [short.batch] };
      this.shortGather = dev.gather(dev.train, this.order, short.input, this.shortLabels, short.batch, augment);
    } else {
      this.shortLabels = null;
      this.shortGather = null;
    }
  }

  get dispatch() { return this.g.dispatch; }
  get shortDispatch() { return this.shortGather?.dispatch ?? null; }

  setEpoch(epoch: number): void {
    const order = epochOrder(this.dev.trainCount, this.orderSeed, epoch, this.labels.length, this.pad);
    const padded = new Uint32Array(this.order.length);
    padded.set(order);
    upload(this.gpu, this.order, padded);
  }

  /** `iteration` keys the augmentation draws; `indexInEpoch` picks the slice of the order (and, for the last, the short gather). */
  setStep(iteration: number, indexInEpoch: number): void {
    const g = indexInEpoch === this.perEpoch - 1 && this.shortGather ? this.shortGather : this.g;
    g.setStep(indexInEpoch * this.labels.length, iteration);
  }
}
