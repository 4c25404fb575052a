import * as k from '../../kernels/reduce.ts';
import * as ref from '../../ref/reduce.ts';
import { ShapeError } from '../../gpu/errors.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { createTensor, type Tensor } from '../../gpu/tensor.ts';
import { compare, EXACT, reductionTolerance } from '../compare.ts';
import { type HostArray, type KernelCase, randomArray, Rng, runOnGpu } from '../harness.ts';

/** Runs the reductions `build` creates (all writing into one `out` tensor) and returns out's raw bytes. */
async function runReductions(
  gpu: Gpu, inputs: Record<string, HostArray>, outLength: number, build: (t: Record<string, Tensor>) => k.Reduction[],
): Promise<{ f32: Float32Array; u32: Uint32Array }> {
  const made: k.Reduction[] = [];
  try {
    const res = await runOnGpu(gpu, Object.fromEntries(Object.entries(inputs).map(([name, data]) => [name, { shape: [data.length], data }])),
      { out: [outLength] }, (t) => { made.push(...build(t)); return made.flatMap((r) => r.dispatches); });
    return { f32: res.out!, u32: new Uint32Array(res.out!.buffer, res.out!.byteOffset, outLength) };
  } finally {
    for (const r of made) r.destroy();
  }
}

/** Random values in [-1, 1) with exact zeros (+0 in a, −0 in b) sprinkled in, for the sign cases. */
function inputs(n: number): { a: Float32Array; b: Float32Array } {
  const rng = new Rng(n);
  const a = randomArray(rng, n).f32, b = randomArray(rng, n).f32;
  for (let i = 0; i < n; i += 7) a[i] = 0;
  for (let i = 3; i < n; i += 11) b[i] = -0;
  return { a, b };
}

// Chunks are 8192 ('gpu') or 32768 ('cpu') elements. 1 and 257: one partial; 8193: two 'gpu'
// partials; 100,003: 13 'gpu' / 4 'cpu' partials with a ragged last chunk.
const SIZES = [1, 257, 8193, 100_003];
const VARIANTS = ['cpu', 'gpu'] as const;

export const reduceCases: KernelCase[] = [
  ...VARIANTS.flatMap((variant) => SIZES.map((n): KernelCase => ({
    family: 'reduce', name: `sum, sumsq, sum_abs, dot, dist_sq, sign_diff into one output n=${n} variant=${variant}`,
    async run(gpu) {
      const { a, b } = inputs(n);
      // Out of index order on purpose: each reduction must land exactly at its own index.
      const out = await runReductions(gpu, { a, b }, 7, (t) => [
        k.reduceSum(gpu, t.a!, t.out!, 3, variant), k.reduceSumSq(gpu, t.a!, t.out!, 0, variant),
        k.reduceDot(gpu, t.a!, t.b!, t.out!, 4, variant), k.reduceSignDiff(gpu, t.a!, t.b!, t.out!, 1, variant),
        k.reduceSumAbs(gpu, t.a!, t.out!, 6, variant), k.reduceDistSq(gpu, t.a!, t.b!, t.out!, 5, variant),
      ]);
      const tol = reductionTolerance(n);
      return [
        compare('sum, sumsq, (untouched), dot, dist_sq, sum_abs',
          [out.f32[3]!, out.f32[0]!, out.f32[2]!, out.f32[4]!, out.f32[5]!, out.f32[6]!],
          [ref.sum(a), ref.sumSq(a), 0, ref.dot(a, b), ref.distSq(a, b), ref.sumAbs(a)], tol),
        compare('sign_diff count (u32)', [out.u32[1]!], [ref.signDiff(a, b)], EXACT),
      ];
    },
  }))),
  {
    family: 'reduce', name: 'slice at offset 128 of a larger buffer (n=5000)',
    async run(gpu) {
      const n = 5000, offset = 128;
      const { a } = inputs(n);
      const big = new Float32Array(offset + n + 300).fill(1e30);
      big.set(a, offset);
      const out = await runReductions(gpu, { big }, 2, (t) => {
        const slice: Tensor = { ...t.big!, name: 'slice', offset, length: n, shape: [n] };
        return [k.reduceSum(gpu, slice, t.out!, 0), k.reduceSumSq(gpu, slice, t.out!, 1)];
      });
      return [compare('sum, sumsq of the slice only', out.f32, [ref.sum(a), ref.sumSq(a)], reductionTolerance(n))];
    },
  },
  {
    family: 'reduce', name: 'n=2^24+3 (adapter variant): count above 2^24 is exact, two runs are bitwise identical',
    async run(gpu) {
      const n = 2 ** 24 + 3;
      // A cheap hash instead of the Rng for 2 × 16.8M values. b = −a except at 0 and 1, so the count
      // is 2^24 + 1 (an odd number above 2^24: no f32 holds it).
      const a = new Float32Array(n), b = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let h = Math.imul(i + 1, 0x9e3779b1); // a murmur3-style finaliser: no lattice structure
        h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
        h ^= h >>> 13;
        a[i] = (h >>> 0) / 2 ** 31 - 1;
        b[i] = i < 2 ? a[i]! : -a[i]!;
      }
      const out = await runReductions(gpu, { a, b }, 6, (t) => [
        k.reduceSum(gpu, t.a!, t.out!, 0), k.reduceSum(gpu, t.a!, t.out!, 1),
        k.reduceSignDiff(gpu, t.a!, t.b!, t.out!, 2), k.reduceSignDiff(gpu, t.a!, t.b!, t.out!, 3),
        k.reduceDot(gpu, t.a!, t.b!, t.out!, 4), k.reduceDot(gpu, t.a!, t.b!, t.out!, 5),
      ]);
      const count = ref.signDiff(a, b);
      const bits = (i: number) => out.u32[i]!;
      return [
        compare('sum', [out.f32[0]!], [ref.sum(a)], reductionTolerance(n)),
        compare('dot', [out.f32[4]!], [ref.dot(a, b)], reductionTolerance(n)),
        compare(`sign_diff count ${count} (> 2^24, not an f32)`, [bits(2), Math.fround(count) !== count ? 1 : 0], [count, 1], EXACT),
        compare('run 1 vs run 2 bits (sum, sign_diff, dot)', [bits(0), bits(2), bits(4)], [bits(1), bits(3), bits(5)], EXACT),
      ];
    },
  },
  {
    family: 'reduce', name: 'shape mismatches throw ShapeError',
    async run(gpu) {
      const a = createTensor(gpu, 'a', [10]), b = createTensor(gpu, 'b', [11]), out = createTensor(gpu, 'out', [2]);
      const throws = (f: () => unknown) => { try { f(); return 0; } catch (e) { return e instanceof ShapeError ? 1 : 0; } };
      const got = [
        throws(() => k.reduceDot(gpu, a, b, out, 0)),
        throws(() => k.reduceSignDiff(gpu, a, b, out, 0)),
        throws(() => k.reduceSum(gpu, a, out, 2)),
      ];
      for (const t of [a, b, out]) t.buffer.destroy();
      return [compare('ShapeError thrown (dot 10 vs 11, sign_diff 10 vs 11, index 2 of 2)', got, [1, 1, 1], EXACT)];
    },
  },
];
