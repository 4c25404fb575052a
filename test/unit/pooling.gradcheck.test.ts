// Pooling backward references against finite differences of their forward references. Max-pool
// inputs are tie-free (distinct values at least 1e-3 apart), so the argmax does not flip within ±ε.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../../src/ref/pooling.ts';
import { describeGradCheck, dotLoss, gradCheck, randomF64 } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';

// Odd H and W: the last row and column are outside every 2×2 window and must get dx = 0.
const D: ref.Dims = { n: 2, c: 3, h: 5, w: 7 };
const LEN = D.n * D.c * D.h * D.w;

/** A random permutation of 0.001·[0, n): distinct values, no ties. */
function tieFree(rng: Rng, n: number): Float64Array {
  const v = Float64Array.from({ length: n }, (_, i) => i * 1e-3);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [v[i], v[j]] = [v[j]!, v[i]!];
  }
  return v;
}

test('maxpool2x2 backward matches finite differences', () => {
  const rng = new Rng(11);
  const x = tieFree(rng, LEN), dy = randomF64(rng, ref.maxpoolForward(x, D).length);
  const r = gradCheck('maxpool dx', (xx) => dotLoss(dy, ref.maxpoolForward(xx, D)), x, ref.maxpoolBackward(x, dy, D), { maxProbes: LEN });
  assert.ok(r.ok, describeGradCheck(r));
});

for (const k of [2, 3]) {
  test(`avgpool k=${k} backward matches finite differences`, () => {
    const rng = new Rng(12 + k);
    const x = randomF64(rng, LEN), dy = randomF64(rng, ref.avgpoolForward(x, D, k).length);
    const r = gradCheck(`avgpool k=${k} dx`, (xx) => dotLoss(dy, ref.avgpoolForward(xx, D, k)), x, ref.avgpoolBackward(dy, D, k), { maxProbes: LEN });
    assert.ok(r.ok, describeGradCheck(r));
  });
}

test('global avgpool backward matches finite differences', () => {
  const rng = new Rng(15);
  const x = randomF64(rng, LEN), dy = randomF64(rng, D.n * D.c);
  const r = gradCheck('global avgpool dx', (xx) => dotLoss(dy, ref.globalAvgpoolForward(xx, D)), x, ref.globalAvgpoolBackward(dy, D));
  assert.ok(r.ok, describeGradCheck(r));
});

test('maxpool2x2 picks the first of tied maxima', () => {
  const d = { n: 1, c: 1, h: 2, w: 2 };
  const x = new Float64Array([1, 3, 3, 3]);
  assert.deepEqual([...ref.maxpoolBackward(x, new Float64Array([1]), d)], [0, 1, 0, 0]);
});
