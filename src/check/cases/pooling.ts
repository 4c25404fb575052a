import { ShapeError } from '../../gpu/errors.ts';
import * as k from '../../kernels/pooling.ts';
import * as ref from '../../ref/pooling.ts';
import { compare, EXACT, reductionTolerance, type Tolerance } from '../compare.ts';
import { type KernelCase, randomArray, Rng, runOnGpu } from '../harness.ts';

/** One float32 division (WGSL allows 2.5 ulp) of an exactly representable value. */
const ONE_DIVISION: Tolerance = { atol: 0, rtol: 1e-6 };

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Inputs on a grid of quarter steps in [-1, 1]: many tied maxima, including whole tied windows. */
function tiedArray(rng: Rng, n: number): { f32: Float32Array; f64: Float64Array } {
  const f32 = new Float32Array(n);
  for (let i = 0; i < n; i++) f32[i] = Math.round((rng.uniform() * 2 - 1) * 4) / 4;
  return { f32, f64: Float64Array.from(f32) };
}

// Odd H and W (last row/column dropped), batch 1, H or W = 2 (one window), a realistic VGG shape.
const MAX_SHAPES = [[2, 3, 5, 7], [1, 4, 8, 8], [3, 2, 2, 9], [128, 64, 16, 16]];

const maxpoolCases = MAX_SHAPES.flatMap((shape): KernelCase[] => [false, true].map((ties) => ({
  family: 'pooling', name: `maxpool2x2 forward+backward [${shape}]${ties ? ' with ties' : ''}`,
  async run(gpu) {
    const d = k.poolDims(shape);
    const o = k.pooledSize(d, 2);
    const outShape = [d.n, d.c, o.oh, o.ow];
    const rng = new Rng(size(shape) + (ties ? 1 : 0));
    const x = ties ? tiedArray(rng, size(shape)) : randomArray(rng, size(shape));
    const dy = randomArray(rng, size(outShape));
    const out = await runOnGpu(gpu, { x: { shape, data: x.f32 }, dy: { shape: outShape, data: dy.f32 } }, { y: outShape, dx: shape },
      (t) => [k.maxpool2x2Forward(gpu, d, t.x!, t.y!), k.maxpool2x2Backward(gpu, d, t.x!, t.dy!, t.dx!)]);
    // A max and a routed gradient are copies of input values: exact.
    return [
      compare('maxpool2x2_forward', out.y!, ref.maxpoolForward(x.f64, d), EXACT),
      compare('maxpool2x2_backward', out.dx!, ref.maxpoolBackward(x.f64, dy.f64, d), EXACT),
    ];
  },
})));

// VGG's head (2×2 on a 2×2 map), k = 3 on a map it does not divide, batch 1, k = 1 (identity).
const AVG: { shape: number[]; k: number }[] = [
  { shape: [128, 512, 2, 2], k: 2 }, { shape: [2, 3, 7, 8], k: 3 }, { shape: [1, 5, 5, 5], k: 2 }, { shape: [2, 2, 3, 3], k: 1 },
];

const avgpoolCases = AVG.map(({ shape, k: win }): KernelCase => ({
  family: 'pooling', name: `avgpool k=${win} forward+backward [${shape}]`,
  async run(gpu) {
    const d = k.poolDims(shape);
    const o = k.pooledSize(d, win);
    const outShape = [d.n, d.c, o.oh, o.ow];
    const rng = new Rng(size(shape) + win);
    const x = randomArray(rng, size(shape)), dy = randomArray(rng, size(outShape));
    const out = await runOnGpu(gpu, { x: { shape, data: x.f32 }, dy: { shape: outShape, data: dy.f32 } }, { y: outShape, dx: shape },
      (t) => [k.avgpoolForward(gpu, d, win, t.x!, t.y!), k.avgpoolBackward(gpu, d, win, t.dy!, t.dx!)]);
    return [
      compare('avgpool_forward', out.y!, ref.avgpoolForward(x.f64, d, win), reductionTolerance(win * win, 1 / (win * win))), // a sum of k² terms x/k²
      compare('avgpool_backward', out.dx!, ref.avgpoolBackward(dy.f64, d, win), ONE_DIVISION),
    ];
  },
}));

// ResNet's head (8×8), batch 1 with an odd plane, a W = 1 plane, a 32×32 plane (long sums).
const GLOBAL_SHAPES = [[128, 64, 8, 8], [1, 5, 3, 3], [3, 7, 5, 1], [4, 3, 32, 32]];

const globalCases = GLOBAL_SHAPES.map((shape): KernelCase => ({
  family: 'pooling', name: `global_avgpool forward+backward [${shape}]`,
  async run(gpu) {
    const d = k.poolDims(shape);
    const outShape = [d.n, d.c];
    const rng = new Rng(size(shape) + 7);
    const x = randomArray(rng, size(shape)), dy = randomArray(rng, size(outShape));
    const out = await runOnGpu(gpu, { x: { shape, data: x.f32 }, dy: { shape: outShape, data: dy.f32 } }, { y: outShape, dx: shape },
      (t) => [k.globalAvgpoolForward(gpu, d, t.x!, t.y!), k.globalAvgpoolBackward(gpu, d, t.dy!, t.dx!)]);
    return [
      compare('global_avgpool_forward', out.y!, ref.globalAvgpoolForward(x.f64, d), reductionTolerance(d.h * d.w, 1 / (d.h * d.w))),
      compare('global_avgpool_backward', out.dx!, ref.globalAvgpoolBackward(dy.f64, d), ONE_DIVISION),
    ];
  },
}));

const shapeMismatch: KernelCase = {
  family: 'pooling', name: 'shape mismatch throws ShapeError',
  async run(gpu) {
    const fake = (name: string, length: number) => ({ name, buffer: null as unknown as GPUBuffer, offset: 0, length, shape: [length] });
    const d = { n: 2, c: 3, h: 5, w: 7 };
    // A 5×7 map pools to 2×3, so y needs 2·3·2·3 = 36 elements, not 2·3·3·4 (ceil mode).
    const threw = (f: () => unknown, pattern: RegExp): boolean => {
      try { f(); } catch (e) { return e instanceof ShapeError && pattern.test((e as Error).message); }
      return false;
    };
    const ok = threw(() => k.maxpool2x2Forward(gpu, d, fake('x', 210), fake('y', 72)), /y has 72 elements, expected 36/)
      && threw(() => k.avgpoolForward(gpu, { n: 1, c: 1, h: 2, w: 2 }, 3, fake('x', 4), fake('y', 1)), /smaller than the 3×3 window/)
      && threw(() => k.globalAvgpoolBackward(gpu, d, fake('dy', 6), fake('dx', 209)), /dx has 209 elements, expected 210/);
    return [compare('pooling ShapeError on bad lengths', [ok ? 1 : 0], [1], EXACT)];
  },
};

export const poolingCases: KernelCase[] = [...maxpoolCases, ...avgpoolCases, ...globalCases, shapeMismatch];
