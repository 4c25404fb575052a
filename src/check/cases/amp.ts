// Mixed-precision kernels (shaders/amp.wgsl and the optimisers' _amp entries) against the
// references of src/ref/f16.ts and src/ref/amp.ts. Every rounding is defined bit for bit (round to
// nearest even, overflow to inf, subnormals kept), so these compare exactly, bits included.
import * as amp from '../../kernels/amp.ts';
import { sgdMasked } from '../../kernels/sgd.ts';
import { ADAM_DEFAULTS, adamMaskedAmp } from '../../kernels/adam.ts';
import { halfBits, packHalves, roundHalf } from '../../ref/f16.ts';
import { scaleGrad, unscale, updateScaler, type ScalerRef } from '../../ref/amp.ts';
import { sgdStep } from '../../ref/sgd.ts';
import { adamStep } from '../../ref/adam.ts';
import { runDispatches } from '../../gpu/dispatch.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { createTensor, download, downloadU32, upload, type Tensor } from '../../gpu/tensor.ts';
import { type Comparison, compare, EXACT, type Tolerance } from '../compare.ts';
import { type KernelCase, randomArray, randomMask, Rng } from '../harness.ts';

const f32bits = (a: ArrayLike<number>): number[] => [...new Uint32Array(Float32Array.from(a as ArrayLike<number>).buffer)];

/**
 * Values where rounding to f16 is decided: ties (normal and subnormal, to even both ways), the
 * overflow threshold 65520 and its neighbours, the smallest subnormal and half of it, f32
 * subnormals, signed zeros, infinities; then random values over the whole f16 exponent range.
 */
function edgeValues(rng: Rng, random: number): Float32Array {
  const up = (x: number) => { const a = new Float32Array([x]); new Uint32Array(a.buffer)[0]! += 1; return a[0]!; };
  const down = (x: number) => { const a = new Float32Array([x]); new Uint32Array(a.buffer)[0]! -= 1; return a[0]!; };
  const v: number[] = [0, -0, Infinity, -Infinity, 1, -1, 65504, -65504, 65519.99, 65520, -65520, up(65520), down(65520), 65536, 1e10, -3e38,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, down(1 + 2 ** -11), up(1 + 2 ** -11), -(1 + 2 ** -11), 2048 + 1, 2048 + 3, 2 ** -14, down(2 ** -14),
    2 ** -14 - 2 ** -25, 2 ** -24, 2 ** -25, up(2 ** -25), down(2 ** -25), 3 * 2 ** -25, 5 * 2 ** -25, -3 * 2 ** -25, 2 ** -26, 1e-40, -1e-40,
    2 ** -30, 0.1, -0.1, 1 / 3, 1023.5, 1024.5, 4095.5];
  for (let i = 0; i < random; i++) {
    const e = Math.floor(rng.uniform() * 44) - 28; // 2^-28 .. 2^15: subnormal, normal and overflowing f16
    v.push(Math.fround((rng.uniform() < 0.5 ? -1 : 1) * (1 + rng.uniform()) * 2 ** e));
  }
  return Float32Array.from(v);
}

async function withTensors<T>(ts: Tensor[], f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } finally {
    for (const t of ts) t.buffer.destroy();
  }
}

const roundCases: KernelCase[] = [
  {
    family: 'amp', name: 'amp_round: f16 round-to-nearest-even bits (ties, overflow, subnormals, zeros, inf) + 4,000 random',
    async run(gpu) {
      const x = edgeValues(new Rng(16), 4000);
      const withNaN = Float32Array.from([...x, NaN]);
      const t = createTensor(gpu, 'x', [withNaN.length], withNaN);
      return withTensors([t], async () => {
        await runDispatches(gpu, [amp.ampRound(gpu, t)]);
        const got = await download(gpu, t);
        return [
          compare('bits of f16(x) as f32', f32bits(got.subarray(0, x.length)), f32bits(Array.from(x, roundHalf)), EXACT),
          compare('NaN stays NaN', [Number.isNaN(got[x.length]!) ? 1 : 0], [1], EXACT),
        ];
      });
    },
  },
  {
    family: 'amp', name: 'amp_round_copy: the f16 copy of an arena, n=70,001',
    async run(gpu) {
      const x = randomArray(new Rng(3), 70_001, 3);
      const src = createTensor(gpu, 'w', [x.f32.length], x.f32), dst = createTensor(gpu, 'w16', [x.f32.length]);
      return withTensors([src, dst], async () => {
        await runDispatches(gpu, [amp.ampRoundCopy(gpu, src, dst)]);
        return [
          compare('f16 copy bits', f32bits(await download(gpu, dst)), f32bits(Array.from(x.f32, roundHalf)), EXACT),
          compare('master unchanged', f32bits(await download(gpu, src)), f32bits(x.f32), EXACT),
        ];
      });
    },
  },
  ...[1, 2, 1001, 65_537].map((n): KernelCase => ({
    family: 'amp', name: `amp_pack + amp_unpack: n=${n}${n % 2 ? ' (odd: last word half empty)' : ''}`,
    async run(gpu) {
      const edge = edgeValues(new Rng(n), n);
      const x = edge.subarray(0, n);
      const act = createTensor(gpu, 'act', [n], x), packed = createTensor(gpu, 'act.f16', [amp.packedLength(n)]);
      const back = createTensor(gpu, 'restored', [n]);
      return withTensors([act, packed, back], async () => {
        await runDispatches(gpu, [amp.ampPack(gpu, act, packed), amp.ampUnpack(gpu, packed, back)]);
        const rounded = Array.from(x, roundHalf);
        return [
          compare('packed words', await downloadU32(gpu, packed), packHalves(x), EXACT),
          compare('activation rounded in place', f32bits(await download(gpu, act)), f32bits(rounded), EXACT),
          compare('unpacked = rounded', f32bits(await download(gpu, back)), f32bits(rounded), EXACT),
        ];
      });
    },
  })),
  {
    family: 'amp', name: 'amp_pack word order: element 2j in the low half, as pack2x16float',
    async run(gpu) {
      const x = Float32Array.from([1, -2, 0.5]);
      const act = createTensor(gpu, 'act', [3], x), packed = createTensor(gpu, 'packed', [2]);
      return withTensors([act, packed], async () => {
        await runDispatches(gpu, [amp.ampPack(gpu, act, packed)]);
        return [compare('words', await downloadU32(gpu, packed), [0x3c00 | (0xc000 << 16), halfBits(0.5)].map((w) => w >>> 0), EXACT)];
      });
    },
  },
];

function scalerTensor(gpu: Gpu, s: ScalerRef, foundInf = 0): Tensor {
  const st = amp.scalerState({ scale: s.scale, tracker: s.tracker, applied: s.applied, beta1: 0, beta2: 0 });
  st[amp.SCALER.foundInf] = foundInf;
  return createTensor(gpu, 'scaler', [amp.SCALER_LENGTH], st);
}

const scaleCases: KernelCase[] = [
  {
    family: 'amp', name: 'amp_scale_grad: f16(S·dlogits), S = 2^16, products past 65504 become inf',
    async run(gpu) {
      const g = Float32Array.from([...randomArray(new Rng(5), 1280, 0.02).f32, 0.5, -0.9999, 1e-9]);
      const d = createTensor(gpu, 'dlogits', [g.length], g), s = scalerTensor(gpu, { scale: 2 ** 16, tracker: 0, applied: 0 });
      return withTensors([d, s], async () => {
        await runDispatches(gpu, [amp.ampScaleGrad(gpu, d, s)]);
        const got = await download(gpu, d);
        return [
          compare('f16(S·g) bits', f32bits(got), f32bits(scaleGrad(g, 2 ** 16)), EXACT),
          compare('0.5·2^16 = 32768 stays finite, −0.9999·2^16 overflows to −inf', [got[1280]!, got[1281]!], [32768, -Infinity], EXACT),
        ];
      });
    },
  },
  {
    family: 'amp', name: 'amp_unscale: f16-rounded weight-copy gradients, f32 others, ×1/S; per-workgroup inf flags',
    async run(gpu) {
      const n = 3 * 256 + 17, rng = new Rng(11);
      const g = randomArray(rng, n, 3000).f32, half = randomMask(rng, n, 0.7).f32;
      g[300] = Infinity; // workgroup 1
      g[n - 1] = NaN; // workgroup 3
      const grads = createTensor(gpu, 'grads', [n], g), halfT = createTensor(gpu, 'half', [n], half);
      const s = scalerTensor(gpu, { scale: 2 ** 12, tracker: 0, applied: 0 }), partials = createTensor(gpu, 'partials', [amp.unscalePartialsLength(n)]);
      return withTensors([grads, halfT, s, partials], async () => {
        await runDispatches(gpu, [amp.ampUnscale(gpu, grads, halfT, s, partials)]);
        const ref = unscale(g, half, 2 ** 12);
        return [
          compare('unscaled gradient bits', f32bits(await download(gpu, grads)), f32bits(ref.grads), EXACT),
          compare('flags per workgroup', await downloadU32(gpu, partials), [0, 1, 0, 1], EXACT),
        ];
      });
    },
  },
];

/**
 * The loss scaler over a sequence of steps with forced overflows, as training runs it (unscale,
 * update, masked SGD that skips on found inf), against GradScaler's rules with a short growth
 * interval: a skipped step halves S and leaves weights and momenta untouched; `interval` clean
 * steps in a row double S; the stats slots say which steps were skipped and the scale each used.
 */
async function scalerSequence(gpu: Gpu, o: { n: number; interval: number; bad: Set<number>; steps: number; slot: number }): Promise<Comparison[]> {
  const rng = new Rng(o.n + o.steps);
  const w0 = randomArray(rng, o.n), mask = randomMask(rng, o.n, 0.6), half = randomMask(rng, o.n, 0.5).f32;
  const t = {
    weights: createTensor(gpu, 'w', [o.n], w0.f32), grads: createTensor(gpu, 'grads', [o.n]),
    momenta: createTensor(gpu, 'buf', [o.n]), mask: createTensor(gpu, 'mask', [o.n], mask.f32),
  };
  const halfT = createTensor(gpu, 'half', [o.n], half);
  const groups = amp.unscalePartialsLength(o.n);
  let ref: ScalerRef = { scale: 2 ** 16, tracker: 0, applied: 0 };
  const scaler = scalerTensor(gpu, ref), partials = createTensor(gpu, 'partials', [groups]), stats = createTensor(gpu, 'stats', [o.slot + 4]);
  const sgdO = { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: false };
  const w = Float64Array.from(w0.f64), buf = new Float64Array(o.n);
  const gotStats: number[] = [], refStats: number[] = [], gotScaler: number[] = [], refScaler: number[] = [];
  let untouched: Comparison | null = null;
  return withTensors([...Object.values(t), halfT, scaler, partials, stats], async () => {
    const sgd = sgdMasked(gpu, t, sgdO, scaler);
    const list = [amp.ampUnscale(gpu, t.grads, halfT, scaler, partials),
      amp.ampUpdate(gpu, partials, scaler, stats, { groups, growthInterval: o.interval, slot: o.slot, beta1: 0, beta2: 0 }), sgd.dispatch];
    for (let step = 0; step < o.steps; step++) {
      // Scaled gradients as the backward pass leaves them (f16 values times S), one inf or NaN on bad steps.
      const g = Float32Array.from(randomArray(rng, o.n, 1e-3).f32, (v) => Math.fround(roundHalf(v * ref.scale)));
      if (o.bad.has(step)) g[Math.floor(rng.uniform() * o.n)] = step % 2 ? NaN : -Infinity;
      upload(gpu, t.grads, g);
      const before = o.bad.has(step) && untouched === null ? [await download(gpu, t.weights), await download(gpu, t.momenta)] : null;
      await runDispatches(gpu, list, `amp step ${step}`);
      const u = unscale(g, half, ref.scale);
      refStats.push(u.foundInf ? 1 : 0, ref.scale);
      if (!u.foundInf) sgdStep(w, u.grads, buf, mask.f64, sgdO);
      ref = updateScaler(ref, u.foundInf, o.interval);
      const [skipped, scale] = [...(await download(gpu, stats)).subarray(o.slot + 2, o.slot + 4)];
      gotStats.push(skipped!, scale!);
      const st = await download(gpu, scaler);
      gotScaler.push(st[amp.SCALER.scale]!, st[amp.SCALER.invScale]!, st[amp.SCALER.tracker]!, st[amp.SCALER.applied]!, st[amp.SCALER.foundInf]!);
      refScaler.push(ref.scale, 1 / ref.scale, ref.tracker, ref.applied, u.foundInf ? 1 : 0);
      if (before) {
        const after = [await download(gpu, t.weights), await download(gpu, t.momenta)];
        untouched = compare(`skipped step ${step}: weights and momenta bitwise untouched`, f32bits([...after[0]!, ...after[1]!]), f32bits([...before[0]!, ...before[1]!]), EXACT);
      }
    }
    const tol: Tolerance = { atol: 1e-6, rtol: 4e-6 };
    return [
      compare('stats per step: skipped, scale used', gotStats, refStats, EXACT),
      compare('scaler state per step: S, 1/S, tracker, applied, found', gotScaler, refScaler, EXACT),
      compare('weights', await download(gpu, t.weights), w, tol),
      compare('momenta', await download(gpu, t.momenta), buf, tol),
      ...(untouched ? [untouched] : []),
    ];
  });
}

/** Adam under the scaler: a skipped step does not advance t; β^t come from the GPU's count. */
async function adamSequence(gpu: Gpu): Promise<Comparison[]> {
  const n = 2000, rng = new Rng(77), steps = 6, bad = new Set([2]);
  const w0 = randomArray(rng, n), mask = randomMask(rng, n, 0.7), half = new Float32Array(n).fill(1);
  const t = {
    weights: createTensor(gpu, 'w', [n], w0.f32), grads: createTensor(gpu, 'grads', [n]), expAvg: createTensor(gpu, 'm', [n]),
    expAvgSq: createTensor(gpu, 'v', [n]), mask: createTensor(gpu, 'mask', [n], mask.f32),
  };
  const o = { ...ADAM_DEFAULTS, weightDecay: 1e-4 };
  const groups = amp.unscalePartialsLength(n);
  const halfT = createTensor(gpu, 'half', [n], half), partials = createTensor(gpu, 'partials', [groups]), stats = createTensor(gpu, 'stats', [4]);
  const scaler = createTensor(gpu, 'scaler', [amp.SCALER_LENGTH], amp.scalerState({ scale: 1024, tracker: 0, applied: 0, beta1: o.beta1, beta2: o.beta2 }));
  const w = Float64Array.from(w0.f64), m = new Float64Array(n), v = new Float64Array(n);
  let ref: ScalerRef = { scale: 1024, tracker: 0, applied: 0 };
  return withTensors([...Object.values(t), halfT, partials, stats, scaler], async () => {
    const adam = adamMaskedAmp(gpu, t, o, scaler);
    const list = [amp.ampUnscale(gpu, t.grads, halfT, scaler, partials),
      amp.ampUpdate(gpu, partials, scaler, stats, { groups, growthInterval: 2000, slot: 0, beta1: o.beta1, beta2: o.beta2 }), adam.dispatch];
    const lrs = [1e-3, 2e-3, 2e-3, 1e-3, 5e-4, 1e-3];
    for (let step = 0; step < steps; step++) {
      const g = Float32Array.from(randomArray(rng, n, 1).f32, (x) => Math.fround(roundHalf(x) * ref.scale));
      if (bad.has(step)) g[5] = Infinity;
      upload(gpu, t.grads, g);
      adam.setLearningRate(lrs[step]!);
      await runDispatches(gpu, list, `adam amp step ${step}`);
      const u = unscale(g, half, ref.scale);
      ref = updateScaler(ref, u.foundInf, 2000);
      if (!u.foundInf) adamStep(w, u.grads, m, v, mask.f64, lrs[step]!, ref.applied, o);
    }
    const st = await download(gpu, scaler);
    // The bias corrections are f32 on the GPU (β^t as f32 products), float64 in the reference.
    const tol: Tolerance = { atol: 2e-6, rtol: 2e-5 };
    return [
      compare('steps applied (t)', [st[amp.SCALER.applied]!], [ref.applied], EXACT),
      compare('β1^t, β2^t', [st[amp.SCALER.powBeta1]!, st[amp.SCALER.powBeta2]!], [amp.powF32(o.beta1, ref.applied), amp.powF32(o.beta2, ref.applied)], EXACT),
      compare('weights', await download(gpu, t.weights), w, tol),
      compare('exp_avg', await download(gpu, t.expAvg), m, tol),
      compare('exp_avg_sq', await download(gpu, t.expAvgSq), v, tol),
    ];
  });
}

export const ampCases: KernelCase[] = [
  ...roundCases,
  ...scaleCases,
  {
    family: 'amp', name: 'loss scaler: overflows at steps 1, 2 and 7 skip and halve S, 3 clean steps double it (growth interval 3), masked SGD',
    run: (gpu) => scalerSequence(gpu, { n: 1500, interval: 3, bad: new Set([1, 2, 7]), steps: 12, slot: 4 }),
  },
  {
    family: 'amp', name: 'loss scaler: no overflow in 5 steps at the default growth interval 2000 keeps S = 2^16',
    run: (gpu) => scalerSequence(gpu, { n: 300, interval: amp.GRAD_SCALER_DEFAULTS.growthInterval, bad: new Set(), steps: 5, slot: 0 }),
  },
  { family: 'amp', name: 'adam_masked_amp: a skipped step does not advance t; β^t from the scaler state', run: adamSequence },
];
