// One timing protocol for both sides of every benchmark row: `warmup` untimed calls (shader JIT,
// pipeline and buffer caches), then `reps` timed calls, each submitted on its own and waited for
// with onSubmittedWorkDone, so a rep's wall time covers encoding, submission and execution of
// exactly one call. Inputs are uploaded before timing; nothing is read back during it.
import type { Tensor as TfTensor } from '@tensorflow/tfjs-core';
import type { Gpu } from '../../../src/gpu/gpu.ts';
import { type Dispatch, encodeDispatches } from '../../../src/gpu/dispatch.ts';
import type { Timing } from './types.ts';
import { type Tfjs, tfjsSync } from './tfjs.ts';

export interface TimeOptions { warmup: number; reps: number }

export function summarize(samples: readonly number[]): Timing {
  if (samples.length === 0) throw new Error('no timing samples');
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const medianMs = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { minMs: s[0]!, medianMs, reps: s.length };
}

async function sample(reps: number, once: () => Promise<void>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await once();
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** Submits `copies` calls of `list` back to back in one compute pass and waits for them. */
async function submitWaited(gpu: Gpu, list: readonly Dispatch[], copies: number): Promise<void> {
  const enc = gpu.device.createCommandEncoder({ label: 'bench' });
  const pass = enc.beginComputePass({ label: 'bench' });
  for (let i = 0; i < copies; i++) encodeDispatches(pass, list);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
}

/** Times one call = the whole `list` of our dispatches in one command buffer. */
export async function timeDispatches(gpu: Gpu, list: readonly Dispatch[], opts: TimeOptions): Promise<Timing> {
  const once = (): Promise<void> => submitWaited(gpu, list, 1);
  // The first call runs inside an error scope so a broken dispatch fails loudly instead of timing a no-op.
  gpu.device.pushErrorScope('validation');
  await once();
  const err = await gpu.device.popErrorScope();
  if (err) throw new Error(`bench: WebGPU validation error: ${err.message}`);
  await sample(Math.max(0, opts.warmup - 1), once);
  gpu.checkAlive();
  const t = summarize(await sample(opts.reps, once));
  gpu.checkAlive();
  return t;
}

/**
 * Milliseconds per call with `opts.reps` calls of `list` encoded back to back in one command
 * buffer and waited for once: the GPU's rate without a submit and a wait per call (which on a
 * discrete GPU add a fixed latency to every waited call). Median of three such submits, after
 * timeDispatches has warmed the same list up.
 */
export async function timeBackToBack(gpu: Gpu, list: readonly Dispatch[], opts: TimeOptions): Promise<number> {
  const calls = Math.max(1, opts.reps);
  const t = summarize(await sample(3, () => submitWaited(gpu, list, calls)));
  gpu.checkAlive();
  return t.medianMs / calls;
}

/**
 * Times one call of a tfjs op. `run` must only launch work on tensors created beforehand; its
 * outputs are disposed after each rep (outside the timed span).
 */
export async function timeTfjs(tf: Tfjs, run: () => TfTensor | TfTensor[], opts: TimeOptions): Promise<Timing> {
  let outs: TfTensor[] = [];
  const once = async (): Promise<void> => {
    const r = run();
    outs = Array.isArray(r) ? r : [r];
    await tfjsSync(tf);
  };
  const dispose = (): void => { tf.dispose(outs); outs = []; };
  for (let i = 0; i < Math.max(1, opts.warmup); i++) { await once(); dispose(); }
  const ms: number[] = [];
  for (let i = 0; i < opts.reps; i++) {
    ms.push(...await sample(1, once));
    dispose();
  }
  return summarize(ms);
}

/** GFLOP/s of a call doing `flops` operations in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / ms / 1e6;
}
