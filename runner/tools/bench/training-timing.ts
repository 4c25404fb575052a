// Timing whole training steps for `bench --suite training` (one network or a pack): ours from the
// trainer's step (training-cases.ts), TensorFlow.js's from its own step; the rep counts each side
// gets. PyTorch's come from its peer script (training-pytorch.ts).
import type { Tensor1D, Tensor2D } from '@tensorflow/tfjs-core';
import type { Gpu } from '../../../src/gpu/gpu.ts';
import { getModel } from '../../../src/nn/zoo.ts';
import type { BenchContext, Timing, TrainingStats } from './types.ts';
import { summarize } from './time.ts';
import { disposeModel, tfModel, tfTrainStep } from './tfjs-models.ts';
import { BATCH, buildOurStep, type TrainingCase } from '../training-cases.ts';

/**
 * Heavy models (a ResNet-20 step takes seconds on a CPU adapter, a TF.js webgpu one ~30 s): warm-up
 * 1, a third of --reps for ours (10 → 4) and a tenth for the peers (10 → 1), which keeps the suite
 * near 4 minutes on lavapipe with the defaults. Light models use the kernel suites' counts.
 */
export function repsFor(c: TrainingCase, ctx: BenchContext, side: 'ours' | 'peer'): { warmup: number; reps: number } {
  if (!c.heavy) return { warmup: ctx.warmup, reps: ctx.reps };
  return { warmup: Math.min(ctx.warmup, 1), reps: Math.max(1, Math.ceil(ctx.reps / (side === 'ours' ? 3 : 10))) };
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

/**
 * Rounds of `reps` steps back to back: throughputMs is their median, as the PyTorch peer's
 * (training-pytorch.ts PEER_ROUNDS), so both sides of a ratio are medians and show their spread.
 */
export const THROUGHPUT_ROUNDS = 3;

/** `amp`: our mixed-precision step (--apex-fp16), PyTorch AMP's numerics (docs/mixed-precision.md). */
export async function timeOurs(gpu: Gpu, c: TrainingCase, density: number, o: { warmup: number; reps: number }, members = 1, amp = false):
  Promise<{ timing: Timing; throughputMs: number; roundsMs: number[]; stats: TrainingStats; loss: number }> {
  const s = buildOurStep(gpu, c, density, BATCH, members, amp);
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
    const roundsMs: number[] = [];
    for (let r = 0; r < THROUGHPUT_ROUNDS; r++) {
      const t0 = performance.now();
      for (const end = i + o.reps; i < end; i++) { s.setStep(i); await s.program.step(true); }
      await s.program.flush();
      roundsMs.push((performance.now() - t0) / o.reps);
    }
    const throughputMs = summarize(roundsMs).medianMs;
    gpu.checkAlive();
    const k = s.program.counters, steps = k.steps - before.steps;
    const per = (a: number, b: number) => (a - b) / steps;
    return {
      timing, throughputMs, roundsMs, loss: s.lastLoss(),
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
