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

/** Training examples after `subsample_fraction` (at least one). */
export function trainExamples(h: Hparams, count: number): number {
  return h.dataset.subsample_fraction === undefined ? count : Math.max(1, Math.round(count * h.dataset.subsample_fraction));
}

/** OpenLTH's dataset transformations on the host: subsample, then random labels. */
export function transformTrainSet(d: Dataset, h: Hparams, seed: number): { images: Uint8Array; labels: Uint8Array; count: number } {
  let { images, labels, count } = d;
  const chw = d.channels * d.height * d.width;
  const rng = new Rng(tensorSeed(seed, 'dataset'));
  if (h.dataset.subsample_fraction !== undefined) {
    const keep = trainExamples(h, count);
    const idx = Uint32Array.from({ length: count }, (_, i) => i);
    rng.shuffle(idx);
    const chosen = [...idx.subarray(0, keep)].sort((a, b) => a - b);
    const img = new Uint8Array(keep * chw), lab = new Uint8Array(keep);
    chosen.forEach((s, j) => { img.set(images.subarray(s * chw, (s + 1) * chw), j * chw); lab[j] = labels[s]!; });
    images = img; labels = lab; count = keep;
  }
  if (h.dataset.random_labels_fraction !== undefined) {
    labels = Uint8Array.from(labels);
    const n = Math.round(count * h.dataset.random_labels_fraction);
    const idx = Uint32Array.from({ length: count }, (_, i) => i);
    rng.shuffle(idx);
    for (let j = 0; j < n; j++) labels[idx[j]!] = rng.int(d.classes);
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
 * The epoch's order of training examples: a permutation seeded by (data order seed, epoch),
 * padded to whole batches by wrapping around to its start — every batch has the compiled batch
 * size (PyTorch's last short batch is replaced by examples from the start of the permutation).
 */
export function epochOrder(count: number, seed: number, epoch: number, batch: number): Uint32Array {
  const perm = Uint32Array.from({ length: count }, (_, i) => i);
  new Rng(tensorSeed(seed, `epoch${epoch}`)).shuffle(perm);
  const out = new Uint32Array(Math.ceil(count / batch) * batch);
  for (let i = 0; i < out.length; i++) out[i] = perm[i % count]!;
  return out;
}

/**
 * Feeds the training model: the gather dispatch, its order tensor, and the per-step offset. Its
 * buffers belong to whoever builds it (TrainStep collects them).
 */
export class BatchFeeder {
  readonly labels: Tensor;
  readonly orderSeed: number;
  private readonly order: Tensor;
  private readonly g: BatchGather;

  constructor(gpu: Gpu, private readonly dev: DeviceDataset, model: CompiledModel, h: Hparams, replicate: number) {
    const batch = model.batch;
    this.orderSeed = h.training.data_order_seed ?? tensorSeed(replicate, 'data_order_seed');
    this.order = createTensor(gpu, 'epoch_order', [Math.ceil(dev.trainCount / batch) * batch]);
    this.labels = createTensor(gpu, 'batch_labels', [batch]);
    this.g = dev.gather(dev.train, this.order, model.input, this.labels, batch, !h.dataset.do_not_augment && dev.train.channels === 3);
    this.gpu = gpu;
  }
  private readonly gpu: Gpu;

  get dispatch() { return this.g.dispatch; }

  setEpoch(epoch: number): void {
    upload(this.gpu, this.order, epochOrder(this.dev.trainCount, this.orderSeed, epoch, this.labels.length));
  }

  /** `iteration` keys the augmentation draws; `indexInEpoch` picks the slice of the order. */
  setStep(iteration: number, indexInEpoch: number): void {
    this.g.setStep(indexInEpoch * this.labels.length, iteration);
  }
}
