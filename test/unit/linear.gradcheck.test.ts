// The linear backward references against finite differences of the forward reference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../../src/ref/linear.ts';
import { describeGradCheck, dotLoss, gradCheck, randomF64 } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';

// Odd sizes so a transposed index would land on a wrong element instead of a symmetric twin.
const d: ref.LinearDims = { batch: 3, in: 5, out: 4 };

function setup(seed: number) {
  const rng = new Rng(seed);
  return {
    x: randomF64(rng, d.batch * d.in), w: randomF64(rng, d.out * d.in),
    b: randomF64(rng, d.out), dy: randomF64(rng, d.batch * d.out),
  };
}

test('linear backward_input matches finite differences', () => {
  const { x, w, b, dy } = setup(1);
  const r = gradCheck('linear dx', (xx) => dotLoss(dy, ref.linearForward(xx, w, b, d)), x, ref.linearBackwardInput(dy, w, d));
  assert.ok(r.ok, describeGradCheck(r));
});

test('linear backward_weight matches finite differences', () => {
  const { x, w, b, dy } = setup(2);
  const r = gradCheck('linear dW', (ww) => dotLoss(dy, ref.linearForward(x, ww, b, d)), w, ref.linearBackwardWeight(dy, x, d));
  assert.ok(r.ok, describeGradCheck(r));
});

test('linear backward_bias matches finite differences', () => {
  const { x, w, b, dy } = setup(3);
  const r = gradCheck('linear db', (bb) => dotLoss(dy, ref.linearForward(x, w, bb, d)), b, ref.linearBackwardBias(dy, d));
  assert.ok(r.ok, describeGradCheck(r));
});

test('fused linear + ReLU backward (dx, dW, db) matches finite differences', () => {
  const { x, w, b, dy } = setup(6);
  const y = ref.linearReluForward(x, w, b, d);
  // Both signs must occur, or the mask would not be exercised.
  assert.ok(y.some((v) => v === 0) && y.some((v) => v > 0), `pre-activations all one sign: ${y}`);
  const g = ref.linearReluBackward(dy, y, x, w, d);
  for (const r of [
    gradCheck('linear+relu dx', (xx) => dotLoss(dy, ref.linearReluForward(xx, w, b, d)), x, g.dx),
    gradCheck('linear+relu dW', (ww) => dotLoss(dy, ref.linearReluForward(x, ww, b, d)), w, g.dw),
    gradCheck('linear+relu db', (bb) => dotLoss(dy, ref.linearReluForward(x, w, bb, d)), b, g.db),
  ]) assert.ok(r.ok, describeGradCheck(r));
});

test('matmul equals linear forward with W = Bᵀ and no bias', () => {
  const rng = new Rng(4);
  const m = 3, k = 5, n = 2;
  const a = randomF64(rng, m * k), bm = randomF64(rng, k * n);
  const wt = new Float64Array(n * k);
  for (let t = 0; t < k; t++) for (let j = 0; j < n; j++) wt[j * k + t] = bm[t * n + j]!;
  const viaLinear = ref.linearForward(a, wt, null, { batch: m, in: k, out: n });
  const direct = ref.matmul(a, bm, m, n, k);
  direct.forEach((v, i) => assert.ok(Math.abs(v - viaLinear[i]!) < 1e-12, `element ${i}: ${v} vs ${viaLinear[i]}`));
});

test('gradCheck catches a transposed weight gradient', () => {
  const sq: ref.LinearDims = { batch: 3, in: 4, out: 4 };
  const rng = new Rng(5);
  const x = randomF64(rng, 12), w = randomF64(rng, 16), dy = randomF64(rng, 12);
  const dw = ref.linearBackwardWeight(dy, x, sq);
  const transposed = dw.map((_, idx) => dw[(idx % 4) * 4 + Math.floor(idx / 4)]!);
  assert.equal(gradCheck('wrong', (ww) => dotLoss(dy, ref.linearForward(x, ww, null, sq)), w, transposed).ok, false);
});
