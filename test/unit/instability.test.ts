import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errorBarrier, interpolate } from '../../src/lottery/instability.ts';

test('error barrier: rise above the mean of the endpoints, never negative', () => {
  assert.equal(errorBarrier([0.1, 0.1, 0.1]), 0);
  assert.ok(Math.abs(errorBarrier([0.1, 0.5, 0.3]) - 0.3) < 1e-12);
  assert.equal(errorBarrier([0.2, 0.1, 0.2]), 0);
});

test('interpolation is linear in weights and statistics and keeps zeros zero', () => {
  const a = { params: Float32Array.from([0, 1, 2]), stats: Float32Array.from([1]) };
  const b = { params: Float32Array.from([0, 3, -2]), stats: Float32Array.from([3]) };
  const m = interpolate(a, b, 0.25);
  assert.deepEqual([...m.params], [0, 1.5, 1]);
  assert.deepEqual([...m.stats], [1.5]);
  assert.deepEqual([...interpolate(a, b, 0).params], [...a.params]);
  assert.deepEqual([...interpolate(a, b, 1).params], [...b.params]);
});
