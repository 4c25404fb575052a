// The masked-SGD reference against two steps of PyTorch's SGD worked out by hand
// (lr 0.1, momentum 0.9, weight decay 0.01; w0 = [1, -0.5], grads [0.2, -0.4] then [0.1, 0.3]).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sgdStep } from '../../src/ref/sgd.ts';
import type { SgdOptions } from '../../src/kernels/sgd.ts';

const GRADS = [[0.2, -0.4, NaN], [0.1, 0.3, NaN]];

/** Two steps from w0 = [1, -0.5, 0.7] with the third weight pruned (its NaN gradient must not leak). */
function twoSteps(o: SgdOptions): { w: number[][]; buf: number[][] } {
  const w = Float64Array.from([1, -0.5, 0.7]), buf = new Float64Array(3), mask = Float64Array.from([1, 1, 0]);
  const seen = { w: [] as number[][], buf: [] as number[][] };
  for (const g of GRADS) {
    sgdStep(w, Float64Array.from(g), buf, mask, o);
    seen.w.push([...w]);
    seen.buf.push([...buf]);
  }
  return seen;
}

function assertClose(got: number[][], want: number[][], what: string): void {
  got.forEach((row, s) => row.forEach((v, i) => assert.ok(Object.is(v, want[s]![i]) || Math.abs(v - want[s]![i]!) < 1e-12,
    `${what} step ${s + 1} [${i}]: got ${v}, expected ${want[s]![i]}`)));
}

test('momentum SGD with weight decay: two steps match the hand computation', () => {
  // step 1: g = ∇ + 0.01·w = [0.21, -0.405]; buf = g; w = w − 0.1·buf.
  // step 2: g = [0.1 + 0.00979, 0.3 − 0.004595]; buf = 0.9·buf + g = [0.29879, -0.069095].
  const r = twoSteps({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: false });
  assertClose(r.buf, [[0.21, -0.405, 0], [0.29879, -0.069095, 0]], 'buf');
  assertClose(r.w, [[0.979, -0.4595, 0], [0.949121, -0.4525905, 0]], 'w');
});

test('Nesterov SGD with weight decay: two steps match the hand computation', () => {
  // step 1: buf = g = [0.21, -0.405]; step = g + 0.9·buf = [0.399, -0.7695].
  // step 2: g = [0.109601, 0.2957695]; buf = [0.298601, -0.0687305]; step = [0.3783419, 0.23391205].
  const r = twoSteps({ lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true });
  assertClose(r.buf, [[0.21, -0.405, 0], [0.298601, -0.0687305, 0]], 'buf');
  assertClose(r.w, [[0.9601, -0.42305, 0], [0.92226581, -0.446441205, 0]], 'w');
});

test('plain SGD (momentum 0, no weight decay) is w − lr·∇', () => {
  const r = twoSteps({ lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false });
  assertClose(r.w, [[0.98, -0.46, 0], [0.97, -0.49, 0]], 'w');
});
