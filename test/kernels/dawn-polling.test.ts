// runner/host/dawn-polling.ts: while only CPU-adapter devices are open, Dawn's ticks come about once
// per millisecond of a wait instead of spinning; EARLYPHASE_DAWN_POLLING=spin and an open real-GPU
// device keep Dawn's spin; a bad value is refused naming the variable. On lavapipe.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import { dawnPolling, devicePolling, isDawnTick } from '../../runner/host/dawn-polling.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { createTensor } from '../../src/gpu/tensor.ts';
import { encodeDispatches } from '../../src/gpu/dispatch.ts';
import { matmul } from '../../src/kernels/linear.ts';

/** Dawn's ticks (native callbacks given to the global setImmediate) per millisecond of a wait of ≥ 60 ms of GEMMs. */
async function ticksPerMs(gpu: Gpu): Promise<{ perMs: number; ms: number }> {
  const n = 512;
  const [a, b, c] = ['a', 'b', 'c'].map((l) => createTensor(gpu, l, [n * n]));
  const d = matmul(gpu, a!, b!, c!, { m: n, n, k: n });
  const inner = globalThis.setImmediate;
  let ticks = 0;
  globalThis.setImmediate = Object.assign((cb: (...x: unknown[]) => void, ...args: unknown[]) => {
    if (isDawnTick(cb)) ticks++;
    return inner(cb, ...args);
  }, inner) as unknown as typeof setImmediate;
  try {
    for (let reps = 8; ; reps *= 2) {
      const enc = gpu.device.createCommandEncoder();
      const pass = enc.beginComputePass();
      encodeDispatches(pass, Array(reps).fill(d));
      pass.end();
      gpu.device.queue.submit([enc.finish()]);
      ticks = 0;
      const t0 = performance.now();
      await gpu.device.queue.onSubmittedWorkDone();
      const ms = performance.now() - t0;
      if (ms >= 60 || reps >= 1024) return { perMs: ticks / ms, ms };
    }
  } finally {
    globalThis.setImmediate = inner;
    for (const t of [a, b, c]) t!.buffer.destroy();
  }
}

test('Dawn spins without pacing, ticks about once per ms with it, and spins again while a real-GPU device is open', async () => {
  process.env.EARLYPHASE_DAWN_POLLING = 'spin';
  const spinning = await openGpu('llvmpipe');
  const spin = await ticksPerMs(spinning);
  spinning.destroy();
  delete process.env.EARLYPHASE_DAWN_POLLING;

  const gpu = await openGpu('llvmpipe');
  try {
    const paced = await ticksPerMs(gpu);
    const releaseGpu = devicePolling('gpu'); // as when a device on a real GPU is opened
    const withGpu = await ticksPerMs(gpu);
    releaseGpu();
    const pacedAgain = await ticksPerMs(gpu);
    console.log(`# Dawn ticks per ms of a wait: spin ${spin.perMs.toFixed(1)} (${spin.ms.toFixed(0)} ms), paced ${paced.perMs.toFixed(2)} (${paced.ms.toFixed(0)} ms), ` +
      `with a real-GPU device open ${withGpu.perMs.toFixed(1)}, after it closed ${pacedAgain.perMs.toFixed(2)}`);
    assert.ok(spin.perMs > 10, `EARLYPHASE_DAWN_POLLING=spin: ${spin.perMs} ticks/ms, expected Dawn's spin (> 10)`);
    assert.ok(paced.perMs < 1.5, `paced: ${paced.perMs} ticks/ms, expected at most about 1`);
    assert.ok(withGpu.perMs > 10, `a real-GPU device open: ${withGpu.perMs} ticks/ms, expected Dawn's spin`);
    assert.ok(pacedAgain.perMs < 1.5, `after the real-GPU device closed: ${pacedAgain.perMs} ticks/ms`);
  } finally {
    gpu.destroy();
  }
});

test('EARLYPHASE_DAWN_POLLING: a bad value is refused naming the variable and the choices', () => {
  process.env.EARLYPHASE_DAWN_POLLING = 'fast';
  try {
    assert.throws(() => dawnPolling(), /^UserError: EARLYPHASE_DAWN_POLLING=fast: expected paced .* or spin/);
  } finally {
    delete process.env.EARLYPHASE_DAWN_POLLING;
  }
});
