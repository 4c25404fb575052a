import * as k from '../../kernels/loss.ts';
import * as ref from '../../ref/loss.ts';
import { ShapeError } from '../../gpu/errors.ts';
import type { Gpu } from '../../gpu/gpu.ts';
import { createTensor } from '../../gpu/tensor.ts';
import { type Comparison, compare, EXACT, type Tolerance } from '../compare.ts';
import { type KernelCase, randomArray, Rng, runOnGpu } from '../harness.ts';

// Per-sample loss is exp/log of f32 values (WGSL allows exp a few ULP per unit of |x|), so the
// error is relative; a sum of n losses gets n times the absolute slack.
const lossTol = (n: number): Tolerance => ({ atol: 2e-6 * n, rtol: 1e-5 });
// dlogits are probabilities / N: relative error of exp and the division, atol for p − 1 ≈ 0.
const gradTol = (n: number): Tolerance => ({ atol: 4e-6 / n, rtol: 1e-5 });

interface Batch { n: number; c: number; logits: Float32Array; labels: Uint32Array }

/** Random logits; about half the labels equal the row's argmax so accuracy is not near zero. */
function randomBatch(rng: Rng, n: number, c: number, scale: number): Batch {
  const logits = randomArray(rng, n * c, scale).f32;
  const labels = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * c, (i + 1) * c);
    labels[i] = rng.uniform() < 0.5 ? row.indexOf(Math.max(...row)) : rng.u32() % c;
  }
  return { n, c, logits, labels };
}

const refOf = (b: Batch) => ref.softmaxCrossEntropy(Float64Array.from(b.logits), b.labels, b.c);

/** One training dispatch into stats[slot, slot+1] (prefilled with `prior`, left untouched elsewhere). */
async function trainCase(gpu: Gpu, b: Batch, slot: number, prior: Float32Array): Promise<Comparison[]> {
  const out = await runOnGpu(gpu,
    { logits: { shape: [b.n, b.c], data: b.logits }, labels: { shape: [b.n], data: b.labels }, stats: { shape: [prior.length], data: prior } },
    { dlogits: [b.n, b.c], stats: [prior.length] },
    (t) => [k.softmaxCrossEntropy(gpu, t.logits!, t.labels!, b.c, t.dlogits!, { stats: t.stats!, slot })]);
  const r = refOf(b);
  const expected = Float64Array.from(prior);
  expected[slot] = r.meanLoss;
  expected[slot + 1] = r.correct;
  return [
    compare('dlogits', out.dlogits!, r.dlogits, gradTol(b.n)),
    compare('stats (mean loss, other slots untouched)', [...out.stats!].filter((_, i) => i !== slot + 1), [...expected].filter((_, i) => i !== slot + 1), lossTol(1)),
    compare('correct count', [out.stats![slot + 1]!], [r.correct], EXACT),
  ];
}

function batchWithTiesAndLargeLogits(): Batch {
  const rng = new Rng(11);
  const b = randomBatch(rng, 33, 10, 1e4);
  b.logits.fill(2.5, 0, 10); // all tied: argmax is class 0
  b.labels[0] = 0;
  b.logits.fill(-7, 10, 20); b.logits[13] = 4; b.logits[17] = 4; // tie between 3 and 7
  b.labels[1] = 7;
  b.logits.set([80, -80], 20); // exp(160) overflows f32 without the max shift
  b.labels[2] = 1;
  return b;
}

export const lossCases: KernelCase[] = [
  ...([[128, 10, 3, 0], [1, 1, 1, 0], [257, 7, 2, 3], [1, 10, 5, 1]] as const).map(([n, c, scale, slot]): KernelCase => ({
    family: 'loss', name: `softmax_cross_entropy N=${n} C=${c} slot=${slot}`,
    run: (gpu) => trainCase(gpu, randomBatch(new Rng(n * 31 + c), n, c, scale), slot, Float32Array.from({ length: slot + 4 }, (_, i) => i + 0.5)),
  })),
  {
    family: 'loss', name: 'softmax_cross_entropy ties and logits ±1e4 N=33 C=10',
    run: (gpu) => trainCase(gpu, batchWithTiesAndLargeLogits(), 0, new Float32Array(2)),
  },
  {
    family: 'loss', name: 'NaN logit row and label >= C give NaN loss, in bounds',
    async run(gpu) {
      const b = randomBatch(new Rng(5), 6, 4, 2);
      b.logits[4 + 2] = NaN; // row 1
      b.labels[3] = 4; // row 3: label == C
      b.labels[4] = 0xffffffff; // row 4: label far out of range
      const results = await trainCase(gpu, b, 0, new Float32Array(2));
      const ev = await runOnGpu(gpu,
        { logits: { shape: [b.n, b.c], data: b.logits }, labels: { shape: [b.n], data: b.labels } }, { stats: [2] },
        (t) => [k.crossEntropyEval(gpu, t.logits!, t.labels!, b.c, { stats: t.stats!, slot: 0 })]);
      const r = refOf(b);
      return [...results, compare('eval loss sum is NaN', ev.stats!, [NaN, r.correct], EXACT)];
    },
  },
  {
    family: 'loss', name: 'accumulate over 3 train steps and 3 eval batches (N=50, 64, 17, C=10)',
    async run(gpu) {
      const rng = new Rng(3);
      const batches = [50, 64, 17].map((n) => randomBatch(rng, n, 10, 4));
      const inputs: Parameters<typeof runOnGpu>[1] = {};
      batches.forEach((b, i) => {
        inputs[`logits${i}`] = { shape: [b.n, b.c], data: b.logits };
        inputs[`labels${i}`] = { shape: [b.n], data: b.labels };
      });
      inputs.stats = { shape: [4], data: Float32Array.from([9, 9, 100, 1]) };
      const out = await runOnGpu(gpu, inputs, { stats: [4], ...Object.fromEntries(batches.map((b, i) => [`d${i}`, [b.n, b.c]])) },
        (t) => batches.flatMap((b, i) => [
          k.softmaxCrossEntropy(gpu, t[`logits${i}`]!, t[`labels${i}`]!, b.c, t[`d${i}`]!, { stats: t.stats!, slot: 0, accumulate: i > 0 }),
          k.crossEntropyEval(gpu, t[`logits${i}`]!, t[`labels${i}`]!, b.c, { stats: t.stats!, slot: 2 }),
        ]));
      const rs = batches.map(refOf);
      const sum = (f: (r: ref.CrossEntropyResult) => number) => rs.reduce((s, r) => s + f(r), 0);
      return [
        compare('train: Σ mean loss', [out.stats![0]!], [sum((r) => r.meanLoss)], lossTol(3)),
        compare('eval: prior + Σ loss sums', [out.stats![2]!], [100 + sum((r) => r.lossSum)], lossTol(131)),
        compare('correct counts (train, eval)', [out.stats![1]!, out.stats![3]!], [sum((r) => r.correct), 1 + sum((r) => r.correct)], EXACT),
        ...batches.map((b, i) => compare(`dlogits batch ${i}`, out[`d${i}`]!, rs[i]!.dlogits, gradTol(b.n))),
      ];
    },
  },
  {
    family: 'loss', name: 'cross_entropy_forward (eval) N=2000 C=10',
    async run(gpu) {
      const b = randomBatch(new Rng(2000), 2000, 10, 3);
      const out = await runOnGpu(gpu,
        { logits: { shape: [b.n, b.c], data: b.logits }, labels: { shape: [b.n], data: b.labels } }, { stats: [2] },
        (t) => [k.crossEntropyEval(gpu, t.logits!, t.labels!, b.c, { stats: t.stats!, slot: 0, accumulate: false })]);
      const r = refOf(b);
      return [compare('loss sum', [out.stats![0]!], [r.lossSum], lossTol(b.n)), compare('correct', [out.stats![1]!], [r.correct], EXACT)];
    },
  },
  {
    family: 'loss', name: 'shape mismatches throw ShapeError',
    async run(gpu) {
      const logits = createTensor(gpu, 'logits', [4, 10]), labels = createTensor(gpu, 'labels', [4]);
      const d = createTensor(gpu, 'dlogits', [4, 10]), stats = createTensor(gpu, 'stats', [4]);
      const throws = (f: () => unknown) => { try { f(); return 0; } catch (e) { return e instanceof ShapeError ? 1 : 0; } };
      const got = [
        throws(() => k.softmaxCrossEntropy(gpu, logits, labels, 9, d, { stats, slot: 0 })),
        throws(() => k.softmaxCrossEntropy(gpu, logits, labels, 10, labels, { stats, slot: 0 })),
        throws(() => k.crossEntropyEval(gpu, logits, labels, 10, { stats, slot: 3 })),
      ];
      for (const t of [logits, labels, d, stats]) t.buffer.destroy();
      return [compare('ShapeError thrown (wrong C, wrong dlogits, slot past end)', got, [1, 1, 1], EXACT)];
    },
  },
];
