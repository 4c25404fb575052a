// ReLU's backward reference against finite differences (inputs kept away from the kink at 0,
// where the derivative is not defined and central differences would straddle it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../../src/ref/elementwise.ts';
import { describeGradCheck, dotLoss, gradCheck, randomF64 } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';

test('relu backward matches finite differences', () => {
  const rng = new Rng(7);
  const x = randomF64(rng, 50).map((v) => (Math.abs(v) < 1e-3 ? 0.5 : v));
  const dy = randomF64(rng, 50);
  const r = gradCheck('relu dx', (xx) => dotLoss(dy, ref.reluForward(xx)), x, ref.reluBackward(x, dy));
  assert.ok(r.ok, describeGradCheck(r));
});

test('add backward (identity on both inputs) matches finite differences', () => {
  const rng = new Rng(8);
  const a = randomF64(rng, 20), b = randomF64(rng, 20), dy = randomF64(rng, 20);
  const ra = gradCheck('add da', (aa) => dotLoss(dy, ref.add(aa, b)), a, dy);
  const rb = gradCheck('add db', (bb) => dotLoss(dy, ref.add(a, bb)), b, dy);
  assert.ok(ra.ok && rb.ok, `${describeGradCheck(ra)}\n${describeGradCheck(rb)}`);
});

test('gradCheck catches a wrong gradient', () => {
  const rng = new Rng(9);
  const x = randomF64(rng, 10), dy = randomF64(rng, 10);
  const wrong = ref.reluBackward(x, dy).map((v) => v * 1.01 + 0.01);
  assert.equal(gradCheck('wrong', (xx) => dotLoss(dy, ref.reluForward(xx)), x, wrong).ok, false);
});
