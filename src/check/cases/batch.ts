import * as k from '../../kernels/batch.ts';
import * as ref from '../../ref/batch.ts';
import { runDispatches } from '../../gpu/dispatch.ts';
import { ShapeError } from '../../gpu/errors.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { createTensor, download, downloadU32, type Tensor } from '../../gpu/tensor.ts';
import { type Comparison, compare, EXACT } from '../compare.ts';
import { type KernelCase, Rng } from '../harness.ts';

// Pure gathers plus one table lookup: every output must equal the reference bit for bit.

/** OpenLTH's normalisations (ImageNet statistics for CIFAR-10, MNIST's own), and one made up for 2 channels. */
const NORMALISATION: Record<number, { mean: number[]; std: number[] }> = {
  1: { mean: [0.1307], std: [0.3081] },
  2: { mean: [0.5, 0.25], std: [0.5, 0.125] },
  3: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
};

interface Scenario {
  name: string;
  count: number;
  channels: number;
  height: number;
  width: number;
  batch: number;
  augment?: boolean;
  rotation?: boolean;
  blurFactor?: number;
  /** Cap on one image binding, to force the two-shard layout. */
  maxBindingBytes?: number;
  /** (offset, step) of each submit; the dispatch is built once and only setStep runs in between. */
  steps: [offset: number, step: number][];
  /** Extra checks on the data, the GPU batches and the options. */
  extra?: (d: ref.RefDataset, order: Uint32Array, got: Batch[], o: ref.RefBatchOptions) => Comparison[];
}

interface Batch { x: Float32Array; labels: Uint32Array }

function makeData(s: Scenario): { d: ref.RefDataset; order: Uint32Array } {
  const rng = new Rng(s.count * 31 + s.channels * 7 + s.height);
  const images = new Uint8Array(s.count * s.channels * s.height * s.width);
  for (let i = 0; i < images.length; i++) images[i] = rng.u32() & 255;
  const labels = Uint32Array.from({ length: s.count }, () => rng.int(10));
  // Two epochs of permutations back to back, so offsets can cross an epoch boundary.
  const order = new Uint32Array(2 * s.count);
  for (const e of [0, 1]) {
    const perm = Array.from({ length: s.count }, (_, i) => i);
    rng.shuffle(perm);
    order.set(perm, e * s.count);
  }
  return { d: { images, labels, count: s.count, channels: s.channels, height: s.height, width: s.width }, order };
}

function options(s: Scenario, offset: number, step: number): ref.RefBatchOptions {
  return {
    batch: s.batch, offset, step, seed: 12345, augment: s.augment ?? false, rotation: s.rotation ?? false,
    blurFactor: s.blurFactor ?? 1, ...NORMALISATION[s.channels]!,
  };
}

async function runScenario(gpu: Gpu, s: Scenario): Promise<Comparison[]> {
  const { d, order } = makeData(s);
  const chw = s.channels * s.height * s.width;
  const shards = k.packImageShards(d.images, chw, s.maxBindingBytes ?? gpu.device.limits.maxStorageBufferBindingSize);
  const tensors: Tensor[] = [];
  const keep = (t: Tensor) => (tensors.push(t), t);
  try {
    const data: k.BatchData = {
      images: shards.map((sh, i) => ({ tensor: keep(createTensor(gpu, `images${i}`, [sh.words.length], sh.words)), examples: sh.examples })),
      labels: keep(createTensor(gpu, 'labels', [s.count], Uint32Array.from(d.labels))),
      count: s.count, channels: s.channels, height: s.height, width: s.width,
    };
    const orderT = keep(createTensor(gpu, 'order', [order.length], order));
    const out = { x: keep(createTensor(gpu, 'x', [s.batch * chw])), labels: keep(createTensor(gpu, 'y', [s.batch])) };
    const g = k.batchGather(gpu, data, orderT, out, options(s, 0, 0));
    const results: Comparison[] = [];
    const got: Batch[] = [];
    for (const [offset, step] of s.steps) {
      g.setStep(offset, step);
      await runDispatches(gpu, [g.dispatch], `batch_gather ${s.name}`);
      const batch = { x: await download(gpu, out.x), labels: await downloadU32(gpu, out.labels) };
      const want = ref.gatherBatch(d, order, options(s, offset, step));
      results.push(compare(`x (offset ${offset}, step ${step})`, batch.x, want.x, EXACT),
        compare(`labels (offset ${offset}, step ${step})`, batch.labels, want.labels, EXACT));
      got.push(batch);
    }
    results.push(holds(`${s.maxBindingBytes ? 2 : 1} image shard(s)`, shards.length === (s.maxBindingBytes ? 2 : 1)));
    return [...results, ...(s.extra?.(d, order, got, options(s, s.steps[0]![0], s.steps[0]![1])) ?? [])];
  } finally {
    for (const t of tensors) t.buffer.destroy();
  }
}

/** A named yes/no condition as a Comparison. */
function holds(name: string, ok: boolean): Comparison {
  return compare(name, [ok ? 1 : 0], [1], EXACT);
}

/** Batch slots whose GPU image differs from the reference built with `change` applied to the options. */
function slotsDiffering(d: ref.RefDataset, order: Uint32Array, got: Batch, o: ref.RefBatchOptions, change: Partial<ref.RefBatchOptions>): number {
  const other = ref.gatherBatch(d, order, { ...o, ...change }).x;
  const n = d.channels * d.height * d.width;
  let count = 0;
  for (let b = 0; b < o.batch; b++) if (got.x.subarray(b * n, (b + 1) * n).some((v, i) => v !== other[b * n + i])) count++;
  return count;
}

const SCENARIOS: Scenario[] = [
  { name: 'MNIST-like 1×28×28 no augmentation, B=16', count: 50, channels: 1, height: 28, width: 28, batch: 16, steps: [[20, 3]] },
  {
    name: 'CIFAR-like 3×32×32 crop+flip, B=32', count: 40, channels: 3, height: 32, width: 32, batch: 32, augment: true,
    steps: [[5, 7]],
    // Fails if augmentation were silently off, in the kernel or in the reference.
    extra: (d, order, got, o) => {
      const draws = Array.from({ length: o.batch }, (_, b) => ref.augmentChoice(o.seed, o.step, b));
      return [
        holds('both flips occur', draws.some((a) => a.flip) && draws.some((a) => !a.flip)),
        holds('at least 6 distinct crop offsets occur', new Set(draws.map((a) => `${a.dy},${a.dx}`)).size >= 6),
        holds('most images differ from the unaugmented batch', slotsDiffering(d, order, got[0]!, o, { augment: false }) >= o.batch / 2),
      ];
    },
  },
  {
    name: 'CIFAR-like 3×32×32 crop+flip, B=128 (realistic), offset across the epoch boundary', count: 200, channels: 3,
    height: 32, width: 32, batch: 128, augment: true, steps: [[150, 1000]],
  },
  {
    name: 'setStep between submits: new slice and new draws, no rebuild', count: 24, channels: 3, height: 8, width: 8, batch: 8,
    augment: true, steps: [[0, 0], [8, 1], [16, 2], [29, 3]],
    extra: (_d, _order, got) => [holds('successive steps differ', got.every((g, i) => i === 0 || g.x.some((v, j) => v !== got[i - 1]!.x[j])))],
  },
  // C·H·W = 70 is not a multiple of 4, so examples start mid-word; a 492-byte cap (7 examples, rounded up to a word) splits 13 examples 7 + 6.
  {
    name: 'odd 2×5×7 crop+flip, two image shards, B=7', count: 13, channels: 2, height: 5, width: 7, batch: 7, augment: true,
    maxBindingBytes: 492, steps: [[0, 11], [9, 12]],
  },
  // The 3×3 image is smaller than the crop padding: most windows are mostly zero padding.
  {
    name: 'odd 1×3×3 crop+flip, B=5', count: 6, channels: 1, height: 3, width: 3, batch: 5, augment: true,
    steps: [[1, 0]],
  },
  {
    name: 'batch 1, 3×9×9 rotation + crop+flip + blur 3', count: 5, channels: 3, height: 9, width: 9, batch: 1,
    augment: true, rotation: true, blurFactor: 3, steps: [[2, 4], [3, 5]],
  },
  {
    name: 'rotation 1×12×12, B=24', count: 30, channels: 1, height: 12, width: 12, batch: 24, rotation: true, steps: [[3, 0]],
    extra: (d, order, got, o) => [
      holds('all four rotations occur', new Set(got[0]!.labels).size === 4),
      holds('rotated images (r > 0) differ from the originals',
        slotsDiffering(d, order, got[0]!, o, { rotation: false }) === got[0]!.labels.filter((r) => r > 0).length),
    ],
  },
  {
    name: 'blur 4: CIFAR-like 3×32×32 → 8×8 → 32×32, B=4', count: 6, channels: 3, height: 32, width: 32, batch: 4,
    blurFactor: 4, steps: [[0, 0]],
    extra: (d, order, got, o) => [holds('blur changes every image', slotsDiffering(d, order, got[0]!, o, { blurFactor: 1 }) === o.batch)],
  },
  {
    name: 'blur 4 + crop+flip, MNIST-like 1×28×28 → 7×7, B=6', count: 10, channels: 1, height: 28, width: 28, batch: 6,
    augment: true, blurFactor: 4, steps: [[2, 9]],
  },
];

/** Each wrong input must throw ShapeError before any GPU work is created. */
async function shapeErrors(gpu: Gpu): Promise<Comparison[]> {
  const t = (name: string, n: number) => createTensor(gpu, name, [n]);
  const img = t('images', 6 * 3 * 4 * 4 / 4), labels = t('labels', 6), order = t('order', 6), x = t('x', 2 * 48), y = t('y', 2);
  const data: k.BatchData = { images: [{ tensor: img, examples: 6 }], labels, count: 6, channels: 3, height: 4, width: 4 };
  const o: k.BatchOptions = { batch: 2, augment: false, rotation: false, blurFactor: 1, seed: 0, ...NORMALISATION[3]! };
  const throwsShape = (f: () => unknown) => { try { f(); return false; } catch (e) { return e instanceof ShapeError; } };
  try {
    const before = gpu.pipelineCount;
    return [
      holds('valid inputs build', !throwsShape(() => k.batchGather(gpu, data, order, { x, labels: y }, o))),
      holds('x of the wrong length throws ShapeError', throwsShape(() => k.batchGather(gpu, data, order, { x: y, labels: y }, o))),
      holds('labels of the wrong length throw ShapeError', throwsShape(() => k.batchGather(gpu, { ...data, labels: y }, order, { x, labels: y }, o))),
      holds('images of the wrong length throw ShapeError', throwsShape(() => k.batchGather(gpu, { ...data, images: [{ tensor: labels, examples: 6 }] }, order, { x, labels: y }, o))),
      holds('rotation of a non-square image throws ShapeError',
        throwsShape(() => k.batchGather(gpu, { ...data, height: 2, width: 8 }, order, { x, labels: y }, { ...o, rotation: true }))),
      holds('blur factor not dividing the side throws ShapeError', throwsShape(() => k.batchGather(gpu, data, order, { x, labels: y }, { ...o, blurFactor: 3 }))),
      holds('only the valid build created a pipeline', gpu.pipelineCount <= before + 1),
    ];
  } finally {
    for (const b of [img, labels, order, x, y]) b.buffer.destroy();
  }
}

export const batchCases: KernelCase[] = [
  ...SCENARIOS.map((s): KernelCase => ({ family: 'batch', name: s.name, run: (gpu) => runScenario(gpu, s) })),
  { family: 'batch', name: 'shape mismatches throw ShapeError', run: shapeErrors },
];
