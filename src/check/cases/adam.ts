import * as k from '../../kernels/adam.ts';
import { adamStep } from '../../ref/adam.ts';
import { runDispatches } from '../../gpu/dispatch.ts';
import { ShapeError } from '../../gpu/errors.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { createTensor, download, upload } from '../../gpu/tensor.ts';
import { type Comparison, compare, EXACT, type Tolerance } from '../compare.ts';
import { type KernelCase, randomArray, randomMask, Rng } from '../harness.ts';

// Each step rounds a handful of f32 operations; m/√v is well conditioned (|m| ≤ √v up to bias
// correction), so the update's relative error stays near f32 epsilon and compounds mildly.
const TOL: Tolerance = { atol: 1e-6, rtol: 4e-6 };

interface Scenario {
  n: number;
  density: number;
  /** Learning rate of each step: also checks that setStep reaches the GPU between submits. */
  lrs: number[];
  weightDecay: number;
  /** Step count t of the first step (1 = fresh optimiser; larger = resumed, moments start non-zero). */
  firstStep: number;
  /** Put NaN gradients on pruned weights: they must still come out exactly 0. */
  nanOnPruned?: boolean;
}

/**
 * Builds the dispatch once and submits it once per step with a fresh gradient, exactly as the
 * training loop does; compares weights and both moments with the float64 reference at the end.
 */
async function runScenario(gpu: Gpu, s: Scenario): Promise<Comparison[]> {
  const rng = new Rng(s.n + 31 * s.lrs.length + s.firstStep);
  const w0 = randomArray(rng, s.n), mask = randomMask(rng, s.n, s.density);
  // A resumed optimiser has moments of the size training leaves: |m| < 0.5, v in [0, 1) (v ≥ 0).
  // Pruned weights get non-zero moments too (stale ones from before pruning), so it is the
  // kernel's zeroing that makes them 0: with zeros here, removing it would fail nothing.
  const m = new Float64Array(s.n), v = new Float64Array(s.n);
  if (s.firstStep > 1) {
    for (let i = 0; i < s.n; i++) [m[i], v[i]] = [Math.fround(rng.uniform() - 0.5), Math.fround(rng.uniform())];
  }
  const grads = s.lrs.map(() => randomArray(rng, s.n, 2));
  if (s.nanOnPruned) for (const g of grads) g.f32.forEach((_, i) => { if (mask.f32[i] === 0) g.f32[i] = g.f64[i] = NaN; });
  const t = {
    weights: createTensor(gpu, 'w', [s.n], w0.f32), grads: createTensor(gpu, 'grad', [s.n]),
    expAvg: createTensor(gpu, 'exp_avg', [s.n], Float32Array.from(m)), expAvgSq: createTensor(gpu, 'exp_avg_sq', [s.n], Float32Array.from(v)),
    mask: createTensor(gpu, 'mask', [s.n], mask.f32),
  };
  const w = Float64Array.from(w0.f64);
  const o = { ...k.ADAM_DEFAULTS, weightDecay: s.weightDecay };
  try {
    const adam = k.adamMasked(gpu, t, o);
    for (const [i, lr] of s.lrs.entries()) {
      upload(gpu, t.grads, grads[i]!.f32);
      adam.setStep(lr, s.firstStep + i);
      await runDispatches(gpu, [adam.dispatch], `adam step ${s.firstStep + i}`);
      adamStep(w, grads[i]!.f64, m, v, mask.f64, lr, s.firstStep + i, o);
    }
    const gotW = await download(gpu, t.weights), gotM = await download(gpu, t.expAvg), gotV = await download(gpu, t.expAvgSq);
    const pruned = [...mask.f32.keys()].filter((i) => mask.f32[i] === 0);
    return [
      compare('weights', gotW, w, TOL),
      compare('exp_avg', gotM, m, TOL),
      compare('exp_avg_sq', gotV, v, TOL),
      compare('pruned weights and moments are exactly 0', pruned.flatMap((i) => [gotW[i]!, gotM[i]!, gotV[i]!]), pruned.flatMap(() => [0, 0, 0]), EXACT),
    ];
  } finally {
    for (const x of Object.values(t)) x.buffer.destroy();
  }
}

const SCENARIOS: (Scenario & { name: string })[] = [
  { name: 'n=1 first step', n: 1, density: 1, lrs: [1e-3], weightDecay: 0, firstStep: 1 },
  { name: 'n=1003 wd, 5 steps from t=1 with lr 1e-3/5e-4/2e-3/1e-3/1e-3', n: 1003, density: 0.5, lrs: [1e-3, 5e-4, 2e-3, 1e-3, 1e-3], weightDecay: 1e-2, firstStep: 1 },
  { name: 'n=777 no wd, 3 steps from t=1', n: 777, density: 0.8, lrs: [0.01, 0.01, 0.01], weightDecay: 0, firstStep: 1 },
  { name: 'n=777 resumed at t=1000 with non-zero moments, wd, 3 steps', n: 777, density: 0.8, lrs: [2e-4, 2e-4, 1e-4], weightDecay: 5e-4, firstStep: 1000 },
  { name: 'n=1003 resumed at t=50, density 0.3 (stale moments on pruned weights), 1 step', n: 1003, density: 0.3, lrs: [1e-3], weightDecay: 0, firstStep: 50 },
  { name: 'n=513 NaN gradients on pruned weights, 2 steps', n: 513, density: 0.3, lrs: [1e-3, 1e-3], weightDecay: 1e-4, firstStep: 1, nanOnPruned: true },
  { name: 'n=300 all-zero mask, NaN gradients', n: 300, density: 0, lrs: [1e-3], weightDecay: 1e-4, firstStep: 1, nanOnPruned: true },
  { name: 'arena n=300,007 density 0.2, 2 steps', n: 300_007, density: 0.2, lrs: [1.2e-3, 1.2e-3], weightDecay: 1e-4, firstStep: 1 },
];

export const adamCases: KernelCase[] = [
  ...SCENARIOS.map((s): KernelCase => ({ family: 'adam', name: `adam_masked ${s.name}`, run: (gpu) => runScenario(gpu, s) })),
  {
    family: 'adam', name: 'adam_masked shape mismatch throws ShapeError',
    async run(gpu) {
      const a = createTensor(gpu, 'w', [64]), b = createTensor(gpu, 'exp_avg_sq', [65]);
      let threw = 0;
      try {
        k.adamMasked(gpu, { weights: a, grads: a, expAvg: a, expAvgSq: b, mask: a }, { ...k.ADAM_DEFAULTS, weightDecay: 0 });
      } catch (e) {
        threw = e instanceof ShapeError ? 1 : 0;
      }
      a.buffer.destroy();
      b.buffer.destroy();
      return [compare('ShapeError thrown (exp_avg_sq 65 vs weights 64)', [threw], [1], EXACT)];
    },
  },
];
