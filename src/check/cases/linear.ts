// GPU vs float64 reference for the linear family and matmul, on both GEMM bodies of linear.wgsl
// (registers, tiled) and on linear_large.wgsl (tiledLarge) whatever the adapter. Sizes: 1 (batch 1, 1×1×1), odd sizes off the 8×8 /
// 64×64 tiles, K % 4 ≠ 0 (the scalar k tail), dims that are multiples of 4 (the vec4 load paths,
// with edge tiles cut at 36 / 20), the MLP's realistic 128 × 784 → 300 and its 100 → 10 head.
// The subgroups body (linear_subgroups.wgsl) reads operands as vec4s, so its shapes keep K and
// the vector dimensions multiples of 4 and put the odd sizes (batch 1, 67 rows past the 64-row
// block, 5 or 41 columns past a lane's 4) where it clamps; on a device that cannot run it, its
// cases check that forcing it is refused. The fused linear + ReLU forward runs on all three.
import * as k from '../../kernels/linear.ts';
import type { GemmVariant } from '../../kernels/linear.ts';
import * as ref from '../../ref/linear.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { createTensor } from '../../gpu/tensor.ts';
import { compare, EXACT, reductionTolerance } from '../compare.ts';
import { type KernelCase, randomArray, Rng, runOnGpu, withTune } from '../harness.ts';
import type { Comparison } from '../compare.ts';
import type { Gpu } from '../../gpu/gpu.ts';

const VARIANTS: GemmVariant[] = ['registers', 'tiled', 'tiledLarge'];

const MATMULS: [m: number, n: number, kk: number][] = [[1, 1, 1], [5, 7, 3], [67, 61, 37], [64, 36, 20], [128, 128, 128]];
/**
 * tiledLarge's own edges: 128-row/column tiles cut at 130 and 131 (with the vec4 paths: N and K
 * multiples of 4) and 129 × 257 with K = 11 (scalar loads, a partial 8-deep k slab).
 */
const LARGE_MATMULS: [m: number, n: number, kk: number][] = [[130, 132, 44], [129, 257, 11], [256, 128, 24]];

const LINEARS: (ref.LinearDims & { bias: boolean })[] = [
  { batch: 1, in: 7, out: 3, bias: true },
  { batch: 5, in: 13, out: 10, bias: false },
  { batch: 9, in: 8, out: 12, bias: true },
  { batch: 128, in: 100, out: 10, bias: true },
  { batch: 128, in: 784, out: 300, bias: true },
];

function matmulCase(variant: GemmVariant, [m, n, kk]: [number, number, number]): KernelCase {
  return {
    family: 'linear', name: `matmul ${m}x${n}x${kk} ${variant}`,
    async run(gpu) {
      const rng = new Rng(m * 1000 + n * 10 + kk);
      const a = randomArray(rng, m * kk), b = randomArray(rng, kk * n);
      const out = await runOnGpu(gpu, { a: { shape: [m, kk], data: a.f32 }, b: { shape: [kk, n], data: b.f32 } }, { c: [m, n] },
        (t) => [k.matmul(gpu, t.a!, t.b!, t.c!, { m, n, k: kk }, { variant })]);
      return [compare('matmul_forward', out.c!, ref.matmul(a.f64, b.f64, m, n, kk), reductionTolerance(kk))];
    },
  };
}

function linearCase(variant: GemmVariant, d: ref.LinearDims & { bias: boolean }): KernelCase {
  return {
    family: 'linear', name: `linear batch=${d.batch} ${d.in}->${d.out}${d.bias ? '' : ' no-bias'} ${variant}`,
    async run(gpu) {
      const rng = new Rng(d.batch * 7 + d.in * 3 + d.out);
      const x = randomArray(rng, d.batch * d.in), w = randomArray(rng, d.out * d.in);
      const bias = randomArray(rng, d.out), dy = randomArray(rng, d.batch * d.out);
      const out = await runOnGpu(gpu, {
        x: { shape: [d.batch, d.in], data: x.f32 }, w: { shape: [d.out, d.in], data: w.f32 },
        bias: { shape: [d.out], data: bias.f32 }, dy: { shape: [d.batch, d.out], data: dy.f32 },
      }, { y: [d.batch, d.out], dx: [d.batch, d.in], dw: [d.out, d.in], db: [d.out] }, (t) => [
        k.linearForward(gpu, t.x!, t.w!, d.bias ? t.bias! : null, t.y!, d, { variant }),
        k.linearBackwardInput(gpu, t.dy!, t.w!, t.dx!, d, { variant }),
        k.linearBackwardWeight(gpu, t.dy!, t.x!, t.dw!, d, { variant }),
        k.linearBackwardBias(gpu, t.dy!, t.db!, d),
      ]);
      return [
        compare('linear_forward', out.y!, ref.linearForward(x.f64, w.f64, d.bias ? bias.f64 : null, d), reductionTolerance(d.in + 1)),
        compare('linear_backward_input', out.dx!, ref.linearBackwardInput(dy.f64, w.f64, d), reductionTolerance(d.out)),
        compare('linear_backward_weight', out.dw!, ref.linearBackwardWeight(dy.f64, x.f64, d), reductionTolerance(d.batch)),
        compare('linear_backward_bias', out.db!, ref.linearBackwardBias(dy.f64, d), reductionTolerance(d.batch)),
      ];
    },
  };
}

const SUBGROUP_MATMULS: [m: number, n: number, kk: number][] = [[1, 4, 4], [5, 12, 8], [67, 36, 20], [128, 128, 128]];

/** Every op of these is eligible for the subgroups body: batch, in and out multiples of 4. */
const SUBGROUP_LINEARS: (ref.LinearDims & { bias: boolean })[] = [
  { batch: 4, in: 8, out: 12, bias: true },
  { batch: 36, in: 44, out: 20, bias: false },
  { batch: 128, in: 300, out: 100, bias: true },
  { batch: 128, in: 784, out: 300, bias: true },
];

/**
 * Fused linear + ReLU shapes. The subgroups body takes the forward of all (in a multiple of 4);
 * of the backward GEMMs, the automatic pick gives it the 128 × 784 → 300 layer's.
 */
const RELU_LINEARS: (ref.LinearDims & { bias: boolean })[] = [
  { batch: 1, in: 8, out: 3, bias: true },
  { batch: 67, in: 12, out: 41, bias: false },
  { batch: 128, in: 784, out: 300, bias: true },
];

/**
 * Runs a subgroups-body case where the device can, else checks that forcing the body is refused
 * (a device without fixed 4- or 8-lane subgroups must not run it).
 */
async function onSubgroups(gpu: Gpu, name: string, run: () => Promise<Comparison[]>): Promise<Comparison[]> {
  if (k.subgroupLanes(gpu) !== null) return run();
  const a = createTensor(gpu, 'a', [4, 4]), c = createTensor(gpu, 'c', [4, 4]);
  try {
    let refused = 0;
    try {
      k.matmul(gpu, a, a, c, { m: 4, n: 4, k: 4 }, { variant: 'subgroups' });
    } catch (e) {
      refused = /subgroups GEMM needs a device/.test((e as Error).message) ? 1 : 0;
    }
    return [compare(`${name}: forcing the subgroups GEMM is refused on this device`, [refused], [1], EXACT)];
  } finally {
    a.buffer.destroy(); c.buffer.destroy();
  }
}

function subgroupCase(c: KernelCase): KernelCase {
  return { ...c, run: (gpu) => onSubgroups(gpu, c.name, () => c.run(gpu)) };
}

/**
 * The fused linear + ReLU layer: forward with the ReLU in the GEMM epilogue, then its backward as
 * the model compiler emits it (masked gradient and bias in one dispatch, then dW and dx of it).
 */
function linearReluCase(variant: GemmVariant, d: ref.LinearDims & { bias: boolean }): KernelCase {
  return {
    family: 'linear', name: `linear+relu batch=${d.batch} ${d.in}->${d.out}${d.bias ? '' : ' no-bias'} ${variant}`,
    async run(gpu) {
      const rng = new Rng(d.batch * 5 + d.in * 11 + d.out);
      const x = randomArray(rng, d.batch * d.in), w = randomArray(rng, d.out * d.in);
      const bias = randomArray(rng, d.out), dy = randomArray(rng, d.batch * d.out);
      // The subgroups body cannot take every backward GEMM here (batch 1): those pick their own.
      const backward = variant === 'subgroups' ? undefined : { variant };
      const out = await runOnGpu(gpu, {
        x: { shape: [d.batch, d.in], data: x.f32 }, w: { shape: [d.out, d.in], data: w.f32 },
        bias: { shape: [d.out], data: bias.f32 }, dy: { shape: [d.batch, d.out], data: dy.f32 },
      }, { y: [d.batch, d.out], dz: [d.batch, d.out], db: [d.out], dw: [d.out, d.in], dx: [d.batch, d.in] }, (t) => [
        k.linearReluForward(gpu, t.x!, t.w!, d.bias ? t.bias! : null, t.y!, d, { variant }),
        k.linearReluBackwardBias(gpu, t.dy!, t.y!, t.dz!, t.db!, d),
        k.linearBackwardWeight(gpu, t.dz!, t.x!, t.dw!, d, backward),
        k.linearBackwardInput(gpu, t.dz!, t.w!, t.dx!, d, backward),
      ]);
      const y = ref.linearReluForward(x.f64, w.f64, d.bias ? bias.f64 : null, d);
      // The mask comes from the GPU's y (a value within rounding of 0 could fall either side).
      const g = ref.linearReluBackward(dy.f64, Float64Array.from(out.y!), x.f64, w.f64, d);
      return [
        compare('linear_forward + relu', out.y!, y, reductionTolerance(d.in + 1)),
        compare('linear_relu_backward_bias dz', out.dz!, g.dz, EXACT),
        compare('linear_relu_backward_bias db', out.db!, g.db, reductionTolerance(d.batch)),
        compare('linear_backward_weight of dz', out.dw!, g.dw, reductionTolerance(d.batch)),
        compare('linear_backward_input of dz', out.dx!, g.dx, reductionTolerance(d.out)),
      ];
    },
  };
}

/**
 * registers, tiled and tiledLarge sum every output's K terms in increasing k with fma, so they
 * must agree bit for bit: one result whatever body the shape or adapter class picks.
 */
function bodiesAgreeCase([m, n, kk]: [number, number, number]): KernelCase {
  return {
    family: 'linear', name: `matmul ${m}x${n}x${kk} registers = tiled = tiledLarge bitwise`,
    async run(gpu) {
      const rng = new Rng(m + n + kk);
      const a = randomArray(rng, m * kk), b = randomArray(rng, kk * n);
      const out = await runOnGpu(gpu, { a: { shape: [m, kk], data: a.f32 }, b: { shape: [kk, n], data: b.f32 } },
        { r: [m, n], t: [m, n], l: [m, n] },
        (t) => (['registers', 'tiled', 'tiledLarge'] as const).map((variant, i) =>
          k.matmul(gpu, t.a!, t.b!, [t.r!, t.t!, t.l!][i]!, { m, n, k: kk }, { variant })));
      return [compare('tiled vs registers', out.t!, out.r!, EXACT), compare('tiledLarge vs registers', out.l!, out.r!, EXACT)];
    },
  };
}

const determinism: KernelCase = {
  family: 'linear', name: 'linear forward twice is bitwise identical',
  async run(gpu) {
    const d = { batch: 33, in: 40, out: 24 };
    const rng = new Rng(11);
    const x = randomArray(rng, d.batch * d.in), w = randomArray(rng, d.out * d.in);
    const out = await runOnGpu(gpu, { x: { shape: [d.batch, d.in], data: x.f32 }, w: { shape: [d.out, d.in], data: w.f32 } },
      { y1: [d.batch, d.out], y2: [d.batch, d.out] },
      (t) => [k.linearForward(gpu, t.x!, t.w!, null, t.y1!, d), k.linearForward(gpu, t.x!, t.w!, null, t.y2!, d)]);
    return [compare('linear_forward repeat', out.y2!, out.y1!, EXACT)];
  },
};

const shapeMismatch: KernelCase = {
  family: 'linear', name: 'shape mismatch throws ShapeError before dispatch',
  async run(gpu) {
    const x = createTensor(gpu, 'x', [4, 5]), w = createTensor(gpu, 'w', [3, 6]), y = createTensor(gpu, 'y', [4, 3]);
    try {
      let threw = 0;
      try {
        k.linearForward(gpu, x, w, null, y, { batch: 4, in: 5, out: 3 });
      } catch (e) {
        threw = e instanceof ShapeError && /w has 18 elements, expected 15/.test((e as Error).message) ? 1 : 0;
      }
      return [compare('linear_forward rejects W [3,6] for in=5', [threw], [1], EXACT)];
    } finally {
      for (const t of [x, w, y]) t.buffer.destroy();
    }
  },
};

export const linearCases: KernelCase[] = [
  ...VARIANTS.flatMap((v) => MATMULS.map((s) => matmulCase(v, s))),
  ...LARGE_MATMULS.map((s) => matmulCase('tiledLarge', s)),
  // 16-deep k slabs: two vec4 loads per operand and invocation, every operand layout.
  ...[[130, 132, 44], [129, 257, 11]].map((s) => withTune(matmulCase('tiledLarge', s as [number, number, number]), { gemmSlab: 16 })),
  ...[LINEARS[1]!, LINEARS[4]!].map((d) => withTune(linearCase('tiledLarge', d), { gemmSlab: 16 })),
  // Single-buffered slabs (the defaults double-buffer them), with one and several slabs.
  ...[[130, 132, 44], [129, 257, 11], [9, 12, 8]].map((s) => withTune(matmulCase('tiledLarge', s as [number, number, number]), { gemmDouble: 0 })),
  ...[LINEARS[1]!, LINEARS[4]!].map((d) => withTune(linearCase('tiledLarge', d), { gemmDouble: 0, gemmSlab: 16 })),
  // The other lane layouts of a subgroup (the default is 8×4 lanes), with and without transposes.
  ...[4, 16].flatMap((lanes) => [withTune(matmulCase('tiledLarge', [130, 132, 44]), { gemmLanes: lanes }), withTune(linearCase('tiledLarge', LINEARS[4]!), { gemmLanes: lanes })]),
  ...[[67, 61, 37], [130, 132, 44]].map((s) => bodiesAgreeCase(s as [number, number, number])),
  ...VARIANTS.flatMap((v) => LINEARS.map((d) => linearCase(v, d))),
  ...SUBGROUP_MATMULS.map((s) => subgroupCase(matmulCase('subgroups', s))),
  ...SUBGROUP_LINEARS.map((d) => subgroupCase(linearCase('subgroups', d))),
  ...VARIANTS.flatMap((v) => RELU_LINEARS.map((d) => linearReluCase(v, d))),
  ...RELU_LINEARS.map((d) => subgroupCase(linearReluCase('subgroups', d))),
  determinism,
  shapeMismatch,
];
