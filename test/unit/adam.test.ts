// The masked-Adam reference against two steps of PyTorch's Adam worked out by hand, and the
// host-side bias correction (src/kernels/adam.ts) against PyTorch's formula.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adamStep } from '../../src/ref/adam.ts';
import { ADAM_DEFAULTS, adamStepScalars } from '../../src/kernels/adam.ts';

const close = (got: number, want: number, what: string, tol = 1e-12) =>
  assert.ok(Math.abs(got - want) <= tol * Math.max(1, Math.abs(want)), `${what}: got ${got}, expected ${want}`);

test('bias correction: step_size = lr/(1−0.9^t) and √(1−0.999^t) as PyTorch computes them, t = 1, 2, 1000', () => {
  // t = 1: 1−β1 = 0.1, 1−β2 = 0.001.  t = 2: 1−0.81 = 0.19, 1−0.998001 = 0.001999.
  // t = 1000: 0.9^1000 ≈ 1.7e-46 (no correction), 1−0.999^1000 = 1−0.36769542477096373.
  const want: [number, number, number][] = [[1, 1e-3 / 0.1, Math.sqrt(0.001)], [2, 1e-3 / 0.19, Math.sqrt(0.001999)],
    [1000, 1e-3, Math.sqrt(0.6323045752290363)]];
  for (const [t, stepSize, bc2Sqrt] of want) {
    const s = adamStepScalars(1e-3, t, ADAM_DEFAULTS);
    close(s.stepSize, stepSize, `step_size at t=${t}`);
    close(s.bc2Sqrt, bc2Sqrt, `bc2_sqrt at t=${t}`);
  }
  assert.throws(() => adamStepScalars(1e-3, 0, ADAM_DEFAULTS), /step count/);
});

test('Adam with weight decay: two steps match the hand computation; a pruned weight stays 0', () => {
  // lr 0.01, λ 0.1, w0 = [1, −0.5, 0.7 (pruned, NaN gradients)], ∇ = [0.2, −0.4] then [0.1, 0.3].
  // step 1: g = ∇ + λw = [0.3, −0.45]; m̂ = g, v̂ = g², so w = w0 − lr·g/(|g| + ε) ≈ w0 − 0.01·sign(g).
  // step 2: g = [0.1 + 0.099, 0.3 − 0.049] = [0.199, 0.251]; m = 0.09·g1 + 0.1·g2 = [0.0469, −0.0154];
  //   v = 0.000999·g1² + 0.001·g2²; w −= lr·(m/0.19)/(√(v/0.001999) + ε).
  const w = Float64Array.from([1, -0.5, 0.7]), m = new Float64Array(3), v = new Float64Array(3), mask = Float64Array.from([1, 1, 0]);
  const o = { ...ADAM_DEFAULTS, weightDecay: 0.1 };
  adamStep(w, Float64Array.from([0.2, -0.4, NaN]), m, v, mask, 0.01, 1, o);
  close(w[0]!, 1 - 0.01 * 0.3 / (0.3 + 1e-8), 'w[0] after step 1');
  close(w[1]!, -0.5 + 0.01 * 0.45 / (0.45 + 1e-8), 'w[1] after step 1');
  adamStep(w, Float64Array.from([0.1, 0.3, NaN]), m, v, mask, 0.01, 2, o);
  close(m[0]!, 0.0469, 'm[0]', 1e-9);
  close(m[1]!, -0.0154, 'm[1]', 1e-9);
  close(v[0]!, 0.000999 * 0.09 + 0.001 * 0.199 ** 2, 'v[0]', 1e-9);
  close(v[1]!, 0.000999 * 0.2025 + 0.001 * 0.251 ** 2, 'v[1]', 1e-9);
  close(w[0]!, 0.9803022210982579, 'w[0] after step 2');
  close(w[1]!, -0.4877751227028201, 'w[1] after step 2');
  assert.deepEqual([w[2], m[2], v[2]], [0, 0, 0]);
});
