// The bench table and timing summary are plain functions of their inputs; check them without a GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBenchTable } from '../../runner/bench/index.ts';
import { gflops, summarize } from '../../runner/bench/time.ts';
import type { BenchRow } from '../../runner/bench/types.ts';

test('summarize gives min and median of the samples', () => {
  assert.deepEqual(summarize([5, 1, 3]), { minMs: 1, medianMs: 3, reps: 3 });
  assert.deepEqual(summarize([4, 1, 3, 2]), { minMs: 1, medianMs: 2.5, reps: 4 });
  assert.throws(() => summarize([]));
});

test('gflops converts operations per millisecond', () => {
  assert.equal(gflops(2e9, 1000), 2);
});

test('formatBenchTable prints GFLOP/s from median (and best from min) and the ratio', () => {
  const row: BenchRow = {
    suite: 'matmul', case: '1024x1024x1024', flops: 2 * 1024 ** 3,
    ours: { minMs: 100, medianMs: 200, reps: 5 }, peer: { minMs: 400, medianMs: 500, reps: 5 },
    peerName: 'tfjs-webgpu 4.22.0', ratio: 2.5,
  };
  const lines = formatBenchTable([row]).split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^suite\s+case\s+ours GFLOP\/s\s+peer GFLOP\/s\s+peer\s+ours\/peer$/);
  assert.match(lines[2]!, /matmul\s+1024x1024x1024\s+10\.7 \(best 21\.5\)\s+4\.3 \(best 5\.4\)\s+tfjs-webgpu 4\.22\.0\s+2\.50x$/);
});
