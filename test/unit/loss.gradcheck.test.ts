// The softmax cross-entropy reference: dlogits against finite differences of the mean loss, and
// the loss itself against values known in closed form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../../src/ref/loss.ts';
import { describeGradCheck, gradCheck, randomF64 } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';

function labelsFor(rng: Rng, n: number, classes: number): Uint32Array {
  return Uint32Array.from({ length: n }, () => rng.u32() % classes);
}

for (const [n, classes, scale] of [[1, 1, 1], [3, 10, 3], [7, 5, 40]] as const) {
  test(`softmax cross-entropy dlogits matches finite differences (N=${n}, C=${classes}, logits ±${scale})`, () => {
    const rng = new Rng(n * 100 + classes);
    const logits = randomF64(rng, n * classes, scale);
    const labels = labelsFor(rng, n, classes);
    const r = gradCheck('dlogits', (x) => ref.softmaxCrossEntropy(x, labels, classes).meanLoss, logits,
      ref.softmaxCrossEntropy(logits, labels, classes).dlogits);
    assert.ok(r.ok, describeGradCheck(r));
  });
}

test('cross-entropy loss and accuracy in closed form', () => {
  // Two equal logits: p = 1/2, loss = ln 2; ties go to the first index, so only label 0 is correct.
  const tie = ref.softmaxCrossEntropy(Float64Array.from([3, 3, 3, 3]), [0, 1], 2);
  for (const l of tie.losses) assert.ok(Math.abs(l - Math.LN2) < 1e-15, `loss ${l}`);
  assert.equal(tie.correct, 1);
  assert.deepEqual([...tie.dlogits], [-0.25, 0.25, 0.25, -0.25]);
  // Logits 1000 apart: exp() would overflow without the max shift; loss ≈ 1000 for the wrong label.
  const far = ref.softmaxCrossEntropy(Float64Array.from([1000, 0]), [1], 2);
  assert.equal(far.meanLoss, 1000);
  assert.equal(far.correct, 0);
});

test('cross-entropy reference: NaN logits and labels ≥ C give a NaN loss', () => {
  const nan = ref.softmaxCrossEntropy(Float64Array.from([0, NaN, 1, 2]), [0, 1], 2);
  assert.ok(Number.isNaN(nan.losses[0]) && Number.isNaN(nan.dlogits[0]) && !Number.isNaN(nan.losses[1]));
  assert.ok(Number.isNaN(nan.meanLoss));
  const bad = ref.softmaxCrossEntropy(Float64Array.from([0, 0]), [2], 2);
  assert.ok(Number.isNaN(bad.meanLoss));
  assert.equal(bad.correct, 0);
  assert.deepEqual([...bad.dlogits], [0.5, 0.5]);
});
