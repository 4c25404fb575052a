// The bench table and timing summary are plain functions of their inputs; check them without a GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBenchTable } from '../../runner/tools/bench/index.ts';
import { gflops, summarize } from '../../runner/tools/bench/time.ts';
import { ofPeak } from '../../runner/tools/bench/matmul.ts';
import type { BenchRow } from '../../runner/tools/bench/types.ts';
import { parsePackSizes } from '../../runner/tools/bench/training-pack.ts';

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

test('matmul rows with a back-to-back rate get two more columns; rows without leave them empty', () => {
  const flops = 2 * 1024 ** 3;
  const timed: BenchRow = {
    suite: 'matmul', case: '1024x1024x1024', flops,
    ours: { minMs: 100, medianMs: 200, reps: 5 }, peer: { minMs: 400, medianMs: 500, reps: 5 },
    peerName: 'pytorch 2.11 cuBLAS', ratio: 2.5, throughputMs: { ours: 50, peer: 25 },
  };
  const conv: BenchRow = { ...timed, suite: 'conv2d', case: 'fwd', throughputMs: undefined };
  const lines = formatBenchTable([timed, conv]).split('\n');
  assert.match(lines[0]!, /ours\/peer\s+ours back to back\s+peer back to back$/);
  // 2.147 GFLOP in 50 ms = 42.9 GFLOP/s; in 25 ms, 85.9.
  assert.match(lines[2]!, /2\.50x\s+42\.9\s+85\.9$/);
  assert.match(lines[3]!, /2\.50x$/);
});

test('a pack row shows the whole pack\'s images/s for us and one process\'s for the peer; --pack sizes parse strictly', () => {
  const row: BenchRow = {
    suite: 'training', case: 'mnist_lenet_300_100 b128 dense, pack of 8', flops: 0,
    ours: { minMs: 90, medianMs: 100, reps: 10 }, peer: { minMs: 40, medianMs: 50, reps: 10 }, peerName: 'tfjs-webgpu 4.22.0, one process',
    ratio: (8 * 128 / 100) / (128 / 50), throughputMs: { ours: 100, peer: 50 }, pack: { members: 8, peerBatch: 128 },
    training: { batch: 8 * 128, dispatchesPerStep: 112, submitsPerStep: 1, asyncReadbacksPerStep: 1, blockingReadbacksPerStep: 0, gpuBytes: 2 ** 20, gpuBytesByKind: {} },
  };
  const line = formatBenchTable([row]).split('\n')[2]!;
  // ours 1,024 images per 100 ms = 10,240 img/s; the peer 128 per 50 ms = 2,560 img/s; 4x.
  assert.match(line, /pack of 8\s+100\.0 \(best 90\.0\)\s+100\.0\s+10240\s+50\.0 \(best 40\.0\)\s+50\.0\s+2560\s+tfjs-webgpu 4\.22\.0, one process\s+4\.00x/);
  assert.deepEqual(parsePackSizes('8,1, 2,2'), [1, 2, 8]);
  for (const bad of ['0', '1,x', '', '2000']) assert.throws(() => parsePackSizes(bad), /bench --pack/);
});

test('ofPeak states a rate as a share of the FP32 peak, and nothing when the peak is unknown', () => {
  // 2·10¹² flops in 100 ms = 20 TFLOP/s.
  assert.equal(ofPeak(2e12, 100, 40), ' (50.0% of the 40.0 TFLOP/s FP32 peak)');
  assert.equal(ofPeak(2e12, 100, null), '');
});
