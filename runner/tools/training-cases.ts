// The networks `bench --suite training` and `profile` train, and the step each builds: the
// trainer's own TrainPack over synthetic bytes of the real training set's size, with a seeded
// init and a random mask, so both tools time exactly the step a run takes.
import { randomFillSync } from 'node:crypto';
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { Dispatch } from '../../src/gpu/dispatch.ts';
import type { Program } from '../../src/gpu/program.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { parameters } from '../../src/nn/graph.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import type { Dataset } from '../../src/data/dataset.ts';
import type { Hparams } from '../../src/train/hparams.ts';
import { freshOptimizerState, optimizerLayout } from '../../src/train/optimizer.ts';
import { TrainPack } from '../../src/train/train-pack.ts';
import { Rng } from '../../src/rng.ts';
import type { TfModelName } from './bench/tfjs-models.ts';

export const BATCH = 128;
export const DENSITIES = [1, 0.2];

export interface TrainingCase {
  model: TfModelName;
  dataset: string;
  /** Training-set size of the real dataset: the synthetic set has the same bytes on the GPU. */
  examples: number;
  lr: number; momentum: number; weightDecay: number; augment: boolean;
  /** ResNet-20 steps take seconds on a CPU adapter: fewer reps than the kernel suites. */
  heavy: boolean;
}

export const TRAINING_CASES: TrainingCase[] = [
  { model: 'mnist_lenet_300_100', dataset: 'fashion_mnist', examples: 60000, lr: 0.1, momentum: 0, weightDecay: 0, augment: false, heavy: false },
  { model: 'cifar_resnet_20', dataset: 'cifar10', examples: 50000, lr: 0.1, momentum: 0.9, weightDecay: 1e-4, augment: true, heavy: true },
];

/** The compiler's shared scratch buffers (src/nn/compile-builder.ts), counted apart from activations. */
const SCRATCH_LABELS = new Set(['conv_scratch', 'conv_partials']);

type MemoryKind = 'arenas' | 'dataset' | 'activations' | 'scratch' | 'uniforms' | 'metrics';

/**
 * Counts the bytes of every buffer created on the device while `phase` is set, by wrapping
 * device.createBuffer for the duration of our step's construction. Uniform buffers are counted
 * apart from the phase they were created in; the conv scratch apart from the activations.
 */
class BufferTracker {
  readonly bytes: Record<MemoryKind, number> = { arenas: 0, dataset: 0, activations: 0, scratch: 0, uniforms: 0, metrics: 0 };
  private phase: MemoryKind = 'metrics';
  private readonly original: GPUDevice['createBuffer'];

  constructor(private readonly device: GPUDevice) {
    this.original = device.createBuffer;
    const self = this;
    device.createBuffer = function (desc: GPUBufferDescriptor) {
      const kind: MemoryKind = desc.usage & 0x40 /* UNIFORM */ ? 'uniforms' : SCRATCH_LABELS.has(desc.label ?? '') ? 'scratch' : self.phase;
      self.bytes[kind] += desc.size;
      return self.original.call(device, desc);
    };
  }

  set(phase: MemoryKind): void { this.phase = phase; }

  stop(): void { this.device.createBuffer = this.original; }

  get total(): number { return Object.values(this.bytes).reduce((a, b) => a + b, 0); }
}

export interface OurStep {
  program: Program;
  /** The step's dispatch list in order (for profiling subsets of it). */
  dispatches: Dispatch[];
  /** Picks the batch and augmentation draws of step `i`. */
  setStep(i: number): void;
  memory: BufferTracker;
  lastLoss(): number;
  destroy(): void;
}

export function randomMask(spec: ReturnType<typeof getModel>, layout: { name: string; offset: number; shape: number[] }[], elements: number, density: number): Float32Array {
  const prunable = new Set(parameters(spec.layers).filter((p) => p.prunable).map((p) => p.name));
  const mask = new Float32Array(elements);
  const rng = new Rng(0x5eed);
  for (const { name, offset, shape } of layout) {
    const n = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) mask[offset + i] = !prunable.has(name) || rng.uniform() < density ? 1 : 0;
  }
  return mask;
}

/**
 * Our training step for case `c` at weight `density`: the trainer's TrainPack (`earlyphase profile`
 * picks the batch) of `members` networks (1: a run alone), on synthetic bytes of the real training
 * set's size (a one-image test split, which no bench step reads; one upload shared by the members),
 * SGD at the case's constant rate, each member its own seeded init and data order under a random mask.
 * `amp`: mixed precision (--apex-fp16).
 */
export function buildOurStep(gpu: Gpu, c: TrainingCase, density: number, batch = BATCH, members = 1, amp = false): OurStep {
  const spec = getModel(c.model);
  const [C, H, W] = spec.input;
  const split = (name: string, count: number): Dataset => {
    const images = randomFillSync(new Uint8Array(count * C * H * W));
    const labels = Uint8Array.from(images.subarray(0, count), (b) => b % spec.classes);
    return { name, images, labels, count, channels: C, height: H, width: W, classes: spec.classes };
  };
  const hparams: Hparams = {
    dataset: { dataset_name: c.dataset as Hparams['dataset']['dataset_name'], batch_size: batch, do_not_augment: !c.augment, pad_last_batch: false },
    model: {
      model_name: c.model, model_init: 'kaiming_normal', batchnorm_init: 'uniform',
      batchnorm_frozen: false, output_frozen: false, others_frozen: false,
    },
    training: {
      optimizer_name: 'sgd', lr: c.lr, training_steps: '1ep', momentum: c.momentum, nesterov_momentum: 0, weight_decay: c.weightDecay, apex_fp16: amp,
    },
    pruning: { pruning_strategy: 'sparse_global', pruning_fraction: 0.2, pruning_exact_count: false },
  };
  const memory = new BufferTracker(gpu.device);
  let last = NaN;
  let pack: TrainPack;
  try {
    pack = new TrainPack(gpu, {
      data: { train: split('bench/train', c.examples), test: split('bench/test', 1) }, spec, phase: (p) => memory.set(p),
      members: Array.from({ length: members }, (_, k) => ({ hparams, replicate: k + 1, onMetrics: (_: number, loss: number) => { if (k === 0) last = loss; } })),
    });
  } finally {
    memory.stop();
  }
  try {
    for (const [k, m] of pack.members.entries()) {
      const elements = m.state.params.elements;
      m.load({
        params: initParameters(spec, m.state.params, k + 1, 'uniform'), stats: initRunningStats(m.state.stats),
        optimizer: freshOptimizerState(optimizerLayout('sgd'), elements),
      }, randomMask(spec, m.state.params.layout(), elements, density));
    }
  } catch (e) {
    pack.destroy();
    throw e;
  }
  return {
    program: pack.program, dispatches: [...pack.dispatches], memory, lastLoss: () => last,
    setStep: (i) => pack.prepare(i),
    destroy: () => pack.destroy(),
  };
}
