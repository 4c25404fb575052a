import type { AdapterClass } from '../../gpu/gpu.ts';
import { ShapeError } from '../../gpu/errors.ts';
import * as k from '../../kernels/batchnorm.ts';
import * as ref from '../../ref/batchnorm.ts';
import { reluBackward } from '../../ref/elementwise.ts';
import { type Comparison, compare, EXACT, reductionTolerance, type Tolerance } from '../compare.ts';
import { type KernelCase, randomArray, Rng, runOnGpu, withTune } from '../harness.ts';

interface Shape { name: string; shape: number[]; offset?: number }

// Odd N·S, batch 1 with S > 1, channel counts that divide nothing, S = 3 (a lane of four idle),
// 1-d with N above the workgroup size, a channel mean far from zero (two-pass variance), and one
// realistic ResNet shape (131,072 values per channel).
const SHAPES: Shape[] = [
  { name: '2-d odd', shape: [3, 5, 3, 5] },
  { name: '2-d batch 1', shape: [1, 7, 6, 5] },
  { name: '2-d S=3', shape: [5, 4, 1, 3] },
  { name: '1-d', shape: [37, 11] },
  { name: '1-d N>256', shape: [300, 3] },
  { name: '2-d mean 50', shape: [4, 3, 9, 9], offset: 50 },
  { name: 'ResNet', shape: [128, 16, 32, 32] },
];

/**
 * float32 error of an output proportional to x̂ = (x − mean)·invstd: the rounding of x − mean is
 * of order eps·(|mean| + std), which x̂ magnifies by invstd, so it grows with |mean|/std; `gain`
 * bounds what multiplies x̂ afterwards (|γ|, or |γ|·invstd for dx).
 */
function normalisedTolerance(meanOverStd: number, gain: number): Tolerance {
  return { atol: 2e-6 * (1 + meanOverStd) * gain, rtol: 1e-5 };
}

type Gpu = Parameters<KernelCase['run']>[0];

/** Seeded inputs for a shape: x (plus offset), dy, γ around 1, β, running stats (var > 0). */
function inputs(s: Shape) {
  const d = k.batchnormDims(s.shape);
  const len = d.n * d.c * d.s;
  const rng = new Rng(len + d.c);
  const x = randomArray(rng, len, 2);
  if (s.offset) {
    for (let i = 0; i < len; i++) x.f32[i] = x.f32[i]! + s.offset;
    x.f64.set(x.f32);
  }
  const dy = randomArray(rng, len);
  const gamma = randomArray(rng, d.c, 0.5), beta = randomArray(rng, d.c);
  for (let i = 0; i < d.c; i++) gamma.f32[i] = gamma.f32[i]! + 1;
  gamma.f64.set(gamma.f32);
  const rm = randomArray(rng, d.c), rv = randomArray(rng, d.c, 0.5);
  for (let i = 0; i < d.c; i++) rv.f32[i] = rv.f32[i]! + 1;
  rv.f64.set(rv.f32);
  return { d, x, dy, gamma, beta, rm, rv };
}

/** Kernel set, and whether a ReLU is fused into the passes ('gpu' set only). */
interface Variant { variant: AdapterClass; relu: boolean }

/** Train forward, eval forward (with the running stats just updated) and backward in one run. */
function runAll(gpu: Gpu, s: Shape, inp: ReturnType<typeof inputs>, v: Variant): Promise<Record<string, Float32Array>> {
  const { d, x, dy, gamma, beta, rm, rv } = inp;
  const ch = [d.c];
  const scratch = Math.max(1, k.batchnormScratchLength(d, v.variant));
  return runOnGpu(gpu,
    {
      x: { shape: s.shape, data: x.f32 }, dy: { shape: s.shape, data: dy.f32 },
      gamma: { shape: ch, data: gamma.f32 }, beta: { shape: ch, data: beta.f32 },
      runningMean: { shape: ch, data: rm.f32 }, runningVar: { shape: ch, data: rv.f32 },
    },
    { y: s.shape, mean: ch, invstd: ch, runningMean: ch, runningVar: ch, yEval: s.shape, dx: s.shape, dgamma: ch, dbeta: ch, scratch: [scratch] },
    (t) => [
      ...k.batchnormForwardTrain(gpu, d, {
        x: t.x!, gamma: t.gamma!, beta: t.beta!, y: t.y!, mean: t.mean!, invstd: t.invstd!,
        runningMean: t.runningMean!, runningVar: t.runningVar!,
      }, { variant: v.variant, scratch: t.scratch!, relu: v.relu }),
      k.batchnormForwardEval(gpu, d, {
        x: t.x!, gamma: t.gamma!, beta: t.beta!, runningMean: t.runningMean!, runningVar: t.runningVar!, y: t.yEval!,
      }, { relu: v.relu }),
      ...k.batchnormBackward(gpu, d, {
        x: t.x!, gamma: t.gamma!, mean: t.mean!, invstd: t.invstd!, dy: t.dy!, dx: t.dx!, dgamma: t.dgamma!, dbeta: t.dbeta!,
        ...(v.relu ? { y: t.y! } : {}),
      }, { variant: v.variant, scratch: t.scratch! }),
    ]);
}

const relu64 = (a: Float64Array) => a.map((v) => Math.max(v, 0));

async function trainCase(gpu: Gpu, s: Shape, v: Variant): Promise<Comparison[]> {
  const inp = inputs(s);
  const { d, x, dy, gamma, beta, rm, rv } = inp;
  const m = d.n * d.s;
  const out = await runAll(gpu, s, inp, v);
  const fw = ref.forwardTrain(x.f64, gamma.f64, beta.f64, rm.f64, rv.f64, d);
  // With a fused ReLU the incoming gradient is masked where the GPU's own output is 0 (the
  // float64 y could differ in sign within rounding of 0, which would flip single elements).
  const bw = ref.backward(x.f64, gamma.f64, v.relu ? reluBackward(Float64Array.from(out.y!), dy.f64) : dy.f64, d);
  let yEval = ref.forwardEval(x.f64, gamma.f64, beta.f64, fw.runningMean, fw.runningVar, d);
  if (v.relu) { fw.y = relu64(fw.y); yEval = relu64(yEval); }
  const meanOverStd = (s.offset ?? 0) / 1.15; // inputs are uniform in ±2: std ≈ 1.15
  const yTol = normalisedTolerance(meanOverStd, 1.5); // |γ| ≤ 1.5
  const stat: Tolerance = { atol: 1e-6, rtol: 1e-5 };
  return [
    compare('batchnorm_forward_train y', out.y!, fw.y, yTol),
    compare('batchnorm mean', out.mean!, fw.mean, stat),
    compare('batchnorm invstd', out.invstd!, fw.invstd, stat),
    compare('batchnorm running_mean', out.runningMean!, fw.runningMean, stat),
    compare('batchnorm running_var', out.runningVar!, fw.runningVar, stat),
    compare('batchnorm_forward_eval y', out.yEval!, yEval, yTol),
    compare('batchnorm dbeta', out.dbeta!, bw.dbeta, reductionTolerance(m)),
    // dγ sums dy·x̂ with |x̂| ≤ sqrt(3) for uniform inputs.
    compare('batchnorm dgamma', out.dgamma!, bw.dgamma, reductionTolerance(m, 2 * (1 + meanOverStd))),
    compare('batchnorm dx', out.dx!, bw.dx, normalisedTolerance(meanOverStd, 1.5)), // |γ|·invstd ≤ 1.5·0.87
  ];
}

// Same inputs twice ⇒ bitwise-identical outputs (fixed reduction order, no atomics).
const determinism: KernelCase = {
  family: 'batchnorm', name: 'deterministic [16,24,16,16]',
  async run(gpu) {
    const s = { name: 'determinism', shape: [16, 24, 16, 16] };
    const inp = inputs(s);
    const out: Comparison[] = [];
    for (const v of VARIANTS) {
      const a = await runAll(gpu, s, inp, v), b = await runAll(gpu, s, inp, v);
      out.push(...Object.keys(a).map((name) => compare(`batchnorm ${name} repeat [${variantName(v)}]`, b[name]!, a[name]!, EXACT)));
    }
    return out;
  },
};

// The 'gpu' set combines the statistics inside the elementwise passes where the device binds 10
// storage buffers: the same operations in the same order as the separate combine passes, so every
// output must be the same bits (several chunks per channel; several channels per workgroup).
const combineInApply: KernelCase = {
  family: 'batchnorm', name: 'gpu set: combine in the apply pass = separate combine passes, bit for bit',
  async run(gpu) {
    const out: Comparison[] = [];
    for (const s of [{ name: 'chunks', shape: [16, 24, 16, 16] }, SHAPES[0]!, SHAPES[3]!, SHAPES[5]!]) {
      const inp = inputs(s);
      for (const v of VARIANTS.filter((x) => x.variant === 'gpu')) {
        let separate: Record<string, Float32Array> = {};
        await withTune({ family: '', name: '', run: async (g) => { separate = await runAll(g, s, inp, v); return []; } }, { bnCombineInApply: 0 }).run(gpu);
        const fused = await runAll(gpu, s, inp, v);
        out.push(...Object.keys(fused).filter((n) => n !== 'scratch')
          .map((n) => compare(`batchnorm ${n} [${s.shape}] [${variantName(v)}]`, fused[n]!, separate[n]!, EXACT)));
      }
    }
    return out;
  },
};

const shapeMismatch: KernelCase = {
  family: 'batchnorm', name: 'shape mismatch throws ShapeError',
  async run(gpu) {
    const d = { n: 2, c: 3, s: 4 };
    const act = (name: string) => ({ name, buffer: null as unknown as GPUBuffer, offset: 0, length: 24, shape: [2, 3, 2, 2] });
    const chan = (name: string, length = 3) => ({ name, buffer: null as unknown as GPUBuffer, offset: 0, length, shape: [length] });
    // gamma has 4 entries for 3 channels; the wrapper must reject it before touching any buffer.
    let threw = false;
    try {
      k.batchnormForwardTrain(gpu, d, {
        x: act('x'), y: act('y'), gamma: chan('gamma', 4), beta: chan('beta'), mean: chan('mean'), invstd: chan('invstd'),
        runningMean: chan('rm'), runningVar: chan('rv'),
      });
    } catch (e) {
      threw = e instanceof ShapeError && /gamma has 4 elements, expected 3/.test((e as Error).message);
    }
    return [compare('batchnorm ShapeError on gamma length', [threw ? 1 : 0], [1], EXACT)];
  },
};

// Both kernel sets on every adapter (CI has no GPU), and the 'gpu' set with a fused ReLU.
const VARIANTS: Variant[] = [{ variant: 'cpu', relu: false }, { variant: 'gpu', relu: false }, { variant: 'gpu', relu: true }];
const variantName = (v: Variant) => `${v.variant} set${v.relu ? ' + relu' : ''}`;

export const batchnormCases: KernelCase[] = [
  ...SHAPES.flatMap((s) => VARIANTS.map((v): KernelCase => ({
    family: 'batchnorm', name: `${s.name} [${s.shape}] train fwd + running stats + eval fwd + bwd [${variantName(v)}]`,
    run: (gpu) => trainCase(gpu, s, v),
  }))),
  determinism,
  combineInApply,
  shapeMismatch,
];
