// Batch norm's backward reference (dx through the batch statistics, dγ, dβ) against finite
// differences of the training-mode forward reference, for a 2-d and a 1-d shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../../src/ref/batchnorm.ts';
import { describeGradCheck, dotLoss, gradCheck, randomF64 } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';

const SHAPES: ref.Dims[] = [{ n: 3, c: 2, s: 5 }, { n: 7, c: 3, s: 1 }];

for (const d of SHAPES) {
  test(`batchnorm backward matches finite differences n=${d.n} c=${d.c} s=${d.s}`, () => {
    const rng = new Rng(d.n * 100 + d.c * 10 + d.s);
    const len = d.n * d.c * d.s;
    const x = randomF64(rng, len, 2), dy = randomF64(rng, len);
    const gamma = randomF64(rng, d.c).map((v) => v + 1.5), beta = randomF64(rng, d.c);
    const zeros = new Float64Array(d.c);
    const y = (xx: Float64Array, g: Float64Array, b: Float64Array) => ref.forwardTrain(xx, g, b, zeros, zeros, d).y;
    const bw = ref.backward(x, gamma, dy, d);
    const results = [
      gradCheck('bn dx', (xx) => dotLoss(dy, y(xx, gamma, beta)), x, bw.dx),
      gradCheck('bn dgamma', (g) => dotLoss(dy, y(x, g, beta)), gamma, bw.dgamma),
      gradCheck('bn dbeta', (b) => dotLoss(dy, y(x, gamma, b)), beta, bw.dbeta),
    ];
    assert.ok(results.every((r) => r.ok), results.map(describeGradCheck).join('\n'));
  });
}

test('batchnorm forward normalises each channel to mean 0, variance 1 (before γ, β)', () => {
  const d = { n: 4, c: 2, s: 3 };
  const rng = new Rng(5);
  const x = randomF64(rng, 24, 3).map((v) => v + 10);
  const out = ref.forwardTrain(x, new Float64Array([1, 1]), new Float64Array(2), new Float64Array(2), new Float64Array([1, 1]), d, 0);
  for (let c = 0; c < d.c; c++) {
    const vals: number[] = [];
    for (let n = 0; n < d.n; n++) for (let s = 0; s < d.s; s++) vals.push(out.y[(n * d.c + c) * d.s + s]!);
    const mu = vals.reduce((a, b) => a + b) / vals.length;
    const v = vals.reduce((a, b) => a + (b - mu) ** 2, 0) / vals.length;
    assert.ok(Math.abs(mu) < 1e-12 && Math.abs(v - 1) < 1e-12, `channel ${c}: mean ${mu}, var ${v}`);
  }
});
