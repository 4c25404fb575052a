import * as k from '../../kernels/sgd.ts';
import { sgdStep } from '../../ref/sgd.ts';
import { runDispatches } from '../../gpu/dispatch.ts';
import { ShapeError } from '../../gpu/errors.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { createTensor, download, upload } from '../../gpu/tensor.ts';
import { type Comparison, compare, EXACT, type Tolerance } from '../compare.ts';
import { type KernelCase, randomArray, randomMask, Rng } from '../harness.ts';

// Each step rounds a handful of f32 operations on O(1) values; errors compound mildly over steps.
const TOL: Tolerance = { atol: 1e-6, rtol: 4e-6 };

interface Scenario {
  n: number;
  density: number;
  /** Learning rate of each step: also checks that setLearningRate reaches the GPU between submits. */
  lrs: number[];
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
  /** Put NaN gradients on pruned weights: they must still come out exactly 0. */
  nanOnPruned?: boolean;
  /**
   * Start every momentum non-zero, pruned weights' included (a resumed optimiser, or a weight pruned
   * after it had momentum): then the kernel's zeroing of pruned momenta is what makes them 0.
   */
  staleMomenta?: boolean;
}

/**
 * Builds the dispatch once and submits it once per step with a fresh gradient, exactly as the
 * training loop does; compares weights and momenta with the float64 reference after the last step.
 */
async function runScenario(gpu: Gpu, s: Scenario): Promise<Comparison[]> {
  const rng = new Rng(s.n + s.lrs.length);
  const w0 = randomArray(rng, s.n), mask = randomMask(rng, s.n, s.density);
  const grads = s.lrs.map(() => randomArray(rng, s.n, 2));
  if (s.nanOnPruned) for (const g of grads) g.f32.forEach((_, i) => { if (mask.f32[i] === 0) g.f32[i] = g.f64[i] = NaN; });
  const buf = s.staleMomenta ? Float64Array.from(randomArray(rng, s.n).f32) : new Float64Array(s.n);
  const w = Float64Array.from(w0.f64);
  const t = {
    weights: createTensor(gpu, 'w', [s.n], w0.f32), grads: createTensor(gpu, 'grad', [s.n]),
    momenta: createTensor(gpu, 'buf', [s.n], Float32Array.from(buf)), mask: createTensor(gpu, 'mask', [s.n], mask.f32),
  };
  try {
    const sgd = k.sgdMasked(gpu, t, { lr: s.lrs[0]!, momentum: s.momentum, weightDecay: s.weightDecay, nesterov: s.nesterov });
    for (const [step, lr] of s.lrs.entries()) {
      upload(gpu, t.grads, grads[step]!.f32);
      sgd.setLearningRate(lr);
      await runDispatches(gpu, [sgd.dispatch], `sgd step ${step}`);
      sgdStep(w, grads[step]!.f64, buf, mask.f64, { lr, momentum: s.momentum, weightDecay: s.weightDecay, nesterov: s.nesterov });
    }
    const gotW = await download(gpu, t.weights), gotBuf = await download(gpu, t.momenta);
    const pruned = [...mask.f32.keys()].filter((i) => mask.f32[i] === 0);
    return [
      compare('weights', gotW, w, TOL),
      compare('momenta', gotBuf, buf, TOL),
      compare('pruned weights and momenta are exactly 0', pruned.flatMap((i) => [gotW[i]!, gotBuf[i]!]), pruned.flatMap(() => [0, 0]), EXACT),
    ];
  } finally {
    for (const x of Object.values(t)) x.buffer.destroy();
  }
}

const SCENARIOS: (Scenario & { name: string })[] = [
  { name: 'n=1 momentum, wd', n: 1, density: 1, lrs: [0.1], momentum: 0.9, weightDecay: 5e-4, nesterov: false },
  { name: 'n=1003 momentum, wd, 3 steps with lr 0.1/0.05/0.2', n: 1003, density: 0.5, lrs: [0.1, 0.05, 0.2], momentum: 0.9, weightDecay: 1e-3, nesterov: false },
  { name: 'n=1003 nesterov, wd, 3 steps', n: 1003, density: 0.5, lrs: [0.1, 0.05, 0.2], momentum: 0.9, weightDecay: 1e-3, nesterov: true },
  { name: 'n=777 nesterov, no wd, 2 steps', n: 777, density: 0.8, lrs: [0.2, 0.2], momentum: 0.5, weightDecay: 0, nesterov: true },
  { name: 'n=777 plain SGD (momentum 0), wd', n: 777, density: 0.8, lrs: [0.1, 0.3], momentum: 0, weightDecay: 1e-2, nesterov: false },
  { name: 'n=513 NaN gradients on pruned weights', n: 513, density: 0.3, lrs: [0.1, 0.1], momentum: 0.9, weightDecay: 1e-4, nesterov: false, nanOnPruned: true },
  { name: 'n=300 all-zero mask, NaN gradients', n: 300, density: 0, lrs: [0.1], momentum: 0.9, weightDecay: 1e-4, nesterov: true, nanOnPruned: true },
  { name: 'arena n=300,007 density 0.2, 2 steps', n: 300_007, density: 0.2, lrs: [0.1, 0.1], momentum: 0.9, weightDecay: 1e-4, nesterov: false },
  { name: 'n=1003 non-zero momenta everywhere (pruned too), 2 steps', n: 1003, density: 0.5, lrs: [0.1, 0.05], momentum: 0.9, weightDecay: 1e-3, nesterov: false, staleMomenta: true },
  { name: 'n=777 nesterov, non-zero momenta everywhere, 1 step', n: 777, density: 0.3, lrs: [0.1], momentum: 0.5, weightDecay: 0, nesterov: true, staleMomenta: true },
];

export const sgdCases: KernelCase[] = [
  ...SCENARIOS.map((s): KernelCase => ({ family: 'sgd', name: `sgd_masked ${s.name}`, run: (gpu) => runScenario(gpu, s) })),
  {
    family: 'sgd', name: 'sgd_masked shape mismatch throws ShapeError',
    async run(gpu) {
      const a = createTensor(gpu, 'w', [64]), b = createTensor(gpu, 'mask', [65]);
      let threw = 0;
      try {
        k.sgdMasked(gpu, { weights: a, grads: a, momenta: a, mask: b }, { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false });
      } catch (e) {
        threw = e instanceof ShapeError ? 1 : 0;
      }
      a.buffer.destroy();
      b.buffer.destroy();
      return [compare('ShapeError thrown (mask 65 vs weights 64)', [threw], [1], EXACT)];
    },
  },
];
