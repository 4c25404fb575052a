// `bench --suite training`: whole SGD steps of LeNet-300-100 and ResNet-20 (batch 128), dense and
// at 80% sparsity, ours against TensorFlow.js on the same Dawn device (webgpu backend) and on its
// wasm backend (the CPU-native peer). Our step is the trainer's Program: on-GPU batch gather (+
// crop/flip for ResNet-20) → forward (training-mode BN) → softmax cross-entropy → backward →
// masked SGD, one submit, loss/accuracy copied to the staging ring. The dataset is synthetic
// bytes of the real size, uploaded once; TF.js gets a random batch created once (no gather, no
// augmentation). Latency: one step per timed rep, waited for before the next (both sides).
// Throughput (ours, and PyTorch's with --peer pytorch): steps submitted back to back, one wait at the
// end; TF.js is only timed step by step, so its latency stands in for its throughput.
import { randomFillSync } from 'node:crypto';
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
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
import type { BenchContext, BenchRow, Timing, TrainingStats } from './types.ts';
import { pytorchPeerName, type PytorchRow, runPytorchPeer } from './pytorch.ts';
import { TFJS_PEER_NAME, tfjsSync } from './tfjs.ts';
import { summarize } from './time.ts';
import { disposeModel, enableWasm, registerTfjsGradients, tfModel, tfTrainStep, type TfModelName, WASM_BACKEND } from './tfjs-models.ts';

const BATCH = 128;
const DENSITIES = [1, 0.2];

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

/**
 * Heavy models (a ResNet-20 step takes seconds on a CPU adapter, a TF.js webgpu one ~30 s): warm-up
 * 1, a third of --reps for ours (10 → 4) and a tenth for the peers (10 → 1), which keeps the suite
 * near 4 minutes on lavapipe with the defaults. Light models use the kernel suites' counts.
 */
export function repsFor(c: TrainingCase, ctx: BenchContext, side: 'ours' | 'peer'): { warmup: number; reps: number } {
  if (!c.heavy) return { warmup: ctx.warmup, reps: ctx.reps };
  return { warmup: Math.min(ctx.warmup, 1), reps: Math.max(1, Math.ceil(ctx.reps / (side === 'ours' ? 3 : 10))) };
}

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
 */
export function buildOurStep(gpu: Gpu, c: TrainingCase, density: number, batch = BATCH, members = 1): OurStep {
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
      optimizer_name: 'sgd', lr: c.lr, training_steps: '1ep', momentum: c.momentum, nesterov_momentum: 0, weight_decay: c.weightDecay,
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

/**
 * Warm-up lasts at least `warmup` steps and at least this long. On the H200 the first ResNet-20
 * case after the light LeNet cases ran at ~21 ms/step waited (11.7 back to back) for all of its
 * reps while the same step measured 8.9 (7.7) in `profile` and in the next case: a GPU still
 * ramping its clocks is the likely cause, and a few fast warm-up steps do not cover it.
 */
const MIN_WARMUP_MS = 1000;

async function sampleSteps(warmup: number, reps: number, step: (i: number) => Promise<void>): Promise<Timing> {
  let i = 0;
  const start = performance.now();
  for (; i < warmup || performance.now() - start < MIN_WARMUP_MS; i++) await step(i);
  const ms: number[] = [];
  for (let r = 0; r < reps; r++, i++) {
    const t0 = performance.now();
    await step(i);
    ms.push(performance.now() - t0);
  }
  return summarize(ms);
}

export async function timeOurs(gpu: Gpu, c: TrainingCase, density: number, o: { warmup: number; reps: number }, members = 1):
  Promise<{ timing: Timing; throughputMs: number; stats: TrainingStats; loss: number }> {
  const s = buildOurStep(gpu, c, density, BATCH, members);
  try {
    const run = async (i: number) => { s.setStep(i); await s.program.step(true); await s.program.flush(); };
    // The first step runs inside an error scope so a broken dispatch fails loudly instead of timing a no-op.
    gpu.device.pushErrorScope('validation');
    await run(0);
    const err = await gpu.device.popErrorScope();
    if (err) throw new Error(`bench training: WebGPU validation error: ${err.message}`);
    const before = { ...s.program.counters };
    const timing = await sampleSteps(Math.max(0, o.warmup - 1), o.reps, (i) => run(i + 1));
    // Throughput: the same number of steps without waiting in between. Program.step only waits when
    // the GPU is a whole staging ring (2 steps) behind, so the CPU encodes step t+1 while t runs.
    let i = s.program.counters.steps;
    const t0 = performance.now();
    for (const end = i + o.reps; i < end; i++) { s.setStep(i); await s.program.step(true); }
    await s.program.flush();
    const throughputMs = (performance.now() - t0) / o.reps;
    gpu.checkAlive();
    const k = s.program.counters, steps = k.steps - before.steps;
    const per = (a: number, b: number) => (a - b) / steps;
    return {
      timing, throughputMs, loss: s.lastLoss(),
      stats: {
        batch: BATCH * members, dispatchesPerStep: per(k.dispatches, before.dispatches), submitsPerStep: per(k.submits, before.submits),
        asyncReadbacksPerStep: per(k.snapshots, before.snapshots), blockingReadbacksPerStep: 0,
        gpuBytes: s.memory.total, gpuBytesByKind: { ...s.memory.bytes },
      },
    };
  } finally {
    s.destroy();
  }
}

export async function timeTfjsSteps(ctx: BenchContext, c: TrainingCase, density: number, o: { warmup: number; reps: number }, sync: () => Promise<void>): Promise<Timing> {
  const { tf } = ctx;
  const model = tfModel(tf, c.model);
  const [C, H, W] = getModel(c.model).input;
  const x = tf.randomNormal([BATCH, H, W, C]);
  const onehot = tf.tidy(() => tf.cast(tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32') as Tensor1D, 10), 'float32')) as Tensor2D;
  const step = tfTrainStep(tf, model, x, onehot, { lr: c.lr, momentum: c.momentum, weightDecay: c.weightDecay, density }, 1234);
  try {
    return await sampleSteps(Math.max(1, o.warmup), o.reps, async () => { step.run(); await sync(); });
  } finally {
    step.dispose();
    tf.dispose([x, onehot]);
    disposeModel(tf, model);
  }
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

type OursResult = Awaited<ReturnType<typeof timeOurs>>;

/**
 * A table row: latencies in `ours`/`peer`, and the ratio from throughput (ms/step back to back),
 * which is what a training run sees. A peer timed only step by step passes its latency median.
 */
function trainingRow(c: TrainingCase, d: number, mine: OursResult, peerName: string, peer: Timing, peerThroughputMs: number): BenchRow {
  return {
    suite: 'training', case: `${c.model} b${BATCH} ${densityName(d)}`, flops: 0, ours: mine.timing, peer, peerName,
    ratio: peerThroughputMs / mine.throughputMs, throughputMs: { ours: mine.throughputMs, peer: peerThroughputMs }, training: mine.stats,
  };
}

/** PyTorch's rows for all cases, from one subprocess (one torch import and CUDA start-up). */
export async function pytorchRows(ctx: BenchContext, cases: TrainingCase[]): Promise<PytorchRow[]> {
  ctx.log(`training: running the PyTorch peer (${cases.map((c) => c.model).join(', ')}; eager and torch.compile)`);
  const r = await runPytorchPeer({ models: cases.map((c) => c.model), densities: DENSITIES, warmup: ctx.warmup, reps: ctx.reps, batch: BATCH });
  if ('skipped' in r) { ctx.log(r.skipped); return []; }
  for (const e of r.errors) ctx.log(`pytorch peer: ${e}`);
  const first = r.rows[0];
  if (first) ctx.log(`pytorch peer: torch ${first.torch} on ${first.device}${first.driver ? `, driver ${first.driver}` : ''}`);
  return r.rows;
}

export async function benchTraining(ctx: BenchContext): Promise<BenchRow[]> {
  if (ctx.packs) return (await import('./training-pack.ts')).benchTrainingPacks(ctx, ctx.packs);
  const { gpu, tf } = ctx;
  const rows: BenchRow[] = [];
  const webgpuBackend = tf.getBackend();
  await registerTfjsGradients(tf);
  const cases = TRAINING_CASES.filter((c) => !ctx.models || ctx.models.some((m) => c.model.includes(m)));
  if (cases.length === 0) throw new Error(`bench training: no model matches ${ctx.models!.join(', ')} (models: ${TRAINING_CASES.map((c) => c.model).join(', ')})`);
  // Before our steps, so the subprocess never shares a GPU with them (our device idles meanwhile).
  const pytorch = ctx.peers.includes('pytorch') ? await pytorchRows(ctx, cases) : [];
  for (const c of cases) {
    const ours = new Map<number, OursResult>();
    for (const d of DENSITIES) {
      const r = await timeOurs(gpu, c, d, repsFor(c, ctx, 'ours'));
      ours.set(d, r);
      const k = r.stats.gpuBytesByKind;
      ctx.log(`training ${c.model} ${densityName(d)}: ours latency ${r.timing.medianMs.toFixed(1)} ms/step (best ${r.timing.minMs.toFixed(1)}), ` +
        `throughput ${r.throughputMs.toFixed(1)} ms/step, ` +
        `${r.stats.dispatchesPerStep} dispatches, ${r.stats.submitsPerStep} submit, loss ${r.loss.toFixed(3)}; GPU ${mib(r.stats.gpuBytes)} MiB ` +
        `(${Object.entries(k).map(([n, b]) => `${n} ${mib(b)}`).join(', ')})`);
    }
    const tfjsPeers: { name: string; enter: () => Promise<string>; sync: () => Promise<void> }[] = !ctx.peers.includes('tfjs') ? [] : [
      { name: TFJS_PEER_NAME, enter: async () => { await tf.setBackend(webgpuBackend); return TFJS_PEER_NAME; }, sync: () => tfjsSync(tf) },
      // wasm ops run synchronously on the calling thread: the step is done when run() returns.
      { name: WASM_BACKEND, enter: () => enableWasm(tf), sync: async () => {} },
    ];
    for (const p of tfjsPeers) {
      const peerName = await p.enter();
      for (const d of DENSITIES) {
        const peer = await timeTfjsSteps(ctx, c, d, repsFor(c, ctx, 'peer'), p.sync);
        const row = trainingRow(c, d, ours.get(d)!, peerName, peer, peer.medianMs);
        ctx.log(`training ${c.model} ${densityName(d)}: ${peerName} ${peer.medianMs.toFixed(1)} ms/step (best ${peer.minMs.toFixed(1)}), ours/peer ${row.ratio.toFixed(2)}x`);
        rows.push(row);
      }
    }
    await tf.setBackend(webgpuBackend);
    for (const p of pytorch.filter((p) => p.model === c.model)) {
      const peer: Timing = { minMs: p.latencyMsBest, medianMs: p.latencyMsMedian, reps: p.reps };
      const row = trainingRow(c, p.density, ours.get(p.density)!, pytorchPeerName(p), peer, p.throughputMs);
      ctx.log(`training ${c.model} ${densityName(p.density)}: ${row.peerName} latency ${p.latencyMsMedian.toFixed(2)} ms/step (best ` +
        `${p.latencyMsBest.toFixed(2)}), throughput ${p.throughputMs.toFixed(2)} ms/step, ours/peer ${row.ratio.toFixed(2)}x`);
      rows.push(row);
    }
  }
  return rows;
}

function densityName(d: number): string {
  return d === 1 ? 'dense' : `${Math.round((1 - d) * 100)}% sparse`;
}
