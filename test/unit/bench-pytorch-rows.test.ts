// How `bench --suite training --peer pytorch` turns the peer's rows into table rows: every row
// names its precision, only fp32 rows (ours is fp32) carry a ratio, TF32 and autocast rows stand
// as context with none, and pack rows compare our K networks with PyTorch's K models (each fp32
// setting one after another, vmap of K, K processes); with --apex-fp16 only autocast fp16 pairs
// with ours. No PyTorch needed: the rows are made here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PytorchRow } from '../../runner/tools/bench/pytorch.ts';
import { type OursSide, pytorchPackRows, pytorchStepRows } from '../../runner/tools/bench/training-pytorch.ts';
import { formatBenchTable } from '../../runner/tools/bench/index.ts';
import type { BenchContext } from '../../runner/tools/bench/types.ts';
import { TRAINING_CASES } from '../../runner/tools/training-cases.ts';
import { refusedInOneLine } from '../cli-parse.ts';

const resnet = TRAINING_CASES.find((c) => c.model === 'cifar_resnet_20')!;

function row(mode: string, precision: PytorchRow['precision'], throughputMs: number, more: Partial<PytorchRow> = {}): PytorchRow {
  return { model: 'cifar_resnet_20', mode, precision, members: 1, density: 1, batch: 128, reps: 20, latencyMsMedian: throughputMs + 1,
    latencyMsBest: throughputMs, roundsMs: [throughputMs - 0.5, throughputMs, throughputMs + 1], throughputMs, torch: '2.11.0', device: 'NVIDIA H100', driver: null, ...more };
}

const PEER = [
  row('eager', 'fp32', 10), row('compile', 'fp32', 8), row('compile-reduce-overhead', 'fp32', 6),
  row('eager-tf32', 'tf32', 5), row('autocast-bf16', 'bf16 mixed', 4), row('autocast-fp16', 'fp16 mixed', 3.5),
  row('eager', 'fp32', 11, { density: 0.2 }),
  row('vmap', 'fp32', 40, { members: 8 }), row('procs', 'fp32', 60, { members: 8, latencyMsMedian: null, latencyMsBest: null }),
  row('vmap', 'fp32', 70, { members: 16 }),
];
const OURS: OursSide = {
  timing: { minMs: 4.5, medianMs: 5, reps: 10 }, throughputMs: 5, roundsMs: [5.5, 4.75, 5],
  stats: { batch: 128, dispatchesPerStep: 300, submitsPerStep: 1, asyncReadbacksPerStep: 1, blockingReadbacksPerStep: 0, gpuBytes: 2 ** 20, gpuBytesByKind: {} },
};

function context(): { ctx: BenchContext; lines: string[] } {
  const lines: string[] = [];
  return { ctx: { log: (l: string) => lines.push(l) } as unknown as BenchContext, lines };
}

test('one network: a row per setting at that density; fp32 rows have a ratio, TF32 and mixed rows none', () => {
  const { ctx, lines } = context();
  const rows = pytorchStepRows(ctx, resnet, 'cifar_resnet_20 b128 dense', 1, OURS, PEER);
  assert.deepEqual(rows.map((r) => [r.peerName, r.ratio]), [
    ['pytorch 2.11 eager (fp32)', 2], ['pytorch 2.11 compile (fp32)', 1.6], ['pytorch 2.11 compile-reduce-overhead (fp32)', 1.2],
    ['pytorch 2.11 eager-tf32 (tf32)', null], ['pytorch 2.11 autocast-bf16 (bf16 mixed)', null], ['pytorch 2.11 autocast-fp16 (fp16 mixed)', null],
  ]);
  assert.deepEqual(rows[0]!.peerRoundsMs, [9.5, 10, 11]);
  assert.ok(lines.some((l) => l.includes('autocast-bf16 (bf16 mixed)') && l.includes('context (bf16 mixed against our fp32: no ratio)')), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('throughput 10.0 ms/step (rounds 9.50–11.0, 3 × 20 steps)')), lines.join('\n'));
  // The fastest fp32 setting, never a faster TF32 or mixed one.
  assert.equal(lines.at(-1), 'training cifar_resnet_20 b128 dense: fastest PyTorch fp32 setting: pytorch 2.11 compile-reduce-overhead (fp32) at 6.00 ms/step, ours/it 1.20x');
  // The sparse case gets its own rows only.
  assert.deepEqual(pytorchStepRows(ctx, resnet, 'sparse', 0.2, OURS, PEER).map((r) => r.ratio), [11 / 5]);
  const table = formatBenchTable(rows).split('\n');
  // Both sides: the median round, the fastest and slowest beside it.
  assert.match(table[2]!, /5\.00 \(4\.75–5\.50\)\s+25600\s+.*10\.0 \(9\.50–11\.0\)\s+12800\s+pytorch 2\.11 eager \(fp32\)\s+2\.00x/);
  assert.match(table[6]!, /pytorch 2\.11 autocast-bf16 \(bf16 mixed\)\s+—\s/);
});

test('a pack of K: fp32 settings one model after another, vmap and processes of the same K; context rows with the first K only', () => {
  const { ctx, lines } = context();
  const ours: OursSide = { ...OURS, throughputMs: 20 }; // 8 × 128 images in 20 ms: 51,200 img/s
  const first = pytorchPackRows(ctx, resnet, 8, true, ours, PEER);
  assert.deepEqual(first.map((r) => [r.peerName, r.ratio === null ? null : Number(r.ratio.toFixed(3)), r.pack!.peerBatch]), [
    ['pytorch 2.11 eager (fp32), one process', 4, 128], ['pytorch 2.11 compile (fp32), one process', 3.2, 128],
    ['pytorch 2.11 compile-reduce-overhead (fp32), one process', 2.4, 128],
    ['pytorch 2.11 eager-tf32 (tf32), one process', null, 128], ['pytorch 2.11 autocast-bf16 (bf16 mixed), one process', null, 128],
    ['pytorch 2.11 autocast-fp16 (fp16 mixed), one process', null, 128],
    // Their ms/step is for all 8 models: 8 × 128 images.
    ['pytorch 2.11 vmap of 8 (fp32)', 2, 1024], ['pytorch 2.11 8 processes (fp32)', 3, 1024],
  ]);
  // Procs have no latency: the peer columns show their rounds.
  assert.deepEqual(first.at(-1)!.peer, { minMs: 59.5, medianMs: 60, reps: 3 });
  // Best in one process: vmap of 8 (25,600 img/s) beats compile-reduce-overhead (21,333).
  assert.equal(lines.at(-1), 'training cifar_resnet_20 b128 dense, pack of 8: best PyTorch fp32 in one process: pytorch 2.11 vmap of 8 (fp32) 25600 img/s, pack/it 2.00x');
  const later = pytorchPackRows(ctx, resnet, 16, false, ours, PEER);
  assert.deepEqual(later.map((r) => r.peerName), ['pytorch 2.11 eager (fp32), one process', 'pytorch 2.11 compile (fp32), one process',
    'pytorch 2.11 compile-reduce-overhead (fp32), one process', 'pytorch 2.11 vmap of 16 (fp32)']);
  assert.ok(later.every((r) => r.ratio !== null));
});

test('with --apex-fp16 ours is fp16 mixed: only autocast fp16 (the same numerics) gets a ratio', () => {
  const { ctx, lines } = context();
  const amp = { ...ctx, apexFp16: true } as BenchContext;
  const rows = pytorchStepRows(amp, resnet, 'cifar_resnet_20 b128 dense apex-fp16', 1, OURS, PEER);
  assert.deepEqual(rows.map((r) => [r.peerName, r.ratio]), [
    ['pytorch 2.11 eager (fp32)', null], ['pytorch 2.11 compile (fp32)', null], ['pytorch 2.11 compile-reduce-overhead (fp32)', null],
    ['pytorch 2.11 eager-tf32 (tf32)', null], ['pytorch 2.11 autocast-bf16 (bf16 mixed)', null], ['pytorch 2.11 autocast-fp16 (fp16 mixed)', 0.7],
  ]);
  assert.ok(lines.some((l) => l.includes('eager (fp32)') && l.includes('context (fp32 against our fp16 mixed: no ratio)')), lines.join('\n'));
  assert.equal(lines.at(-1), 'training cifar_resnet_20 b128 dense apex-fp16: fastest PyTorch fp16 mixed setting: pytorch 2.11 autocast-fp16 (fp16 mixed) at 3.50 ms/step, ours/it 0.70x');
  // Packs: vmap and processes are fp32, so context too; autocast fp16 one model after another pairs.
  assert.deepEqual(pytorchPackRows(amp, resnet, 8, false, OURS, PEER).map((r) => [r.peerName, r.ratio === null]), [
    ['pytorch 2.11 autocast-fp16 (fp16 mixed), one process', false], ['pytorch 2.11 vmap of 8 (fp32)', true], ['pytorch 2.11 8 processes (fp32)', true]]);
});

test('bench --apex-fp16 needs the training suite and refuses TF.js (fp32 only), before any GPU work', async () => {
  await refusedInOneLine(['bench', '--apex-fp16', '--suite', 'matmul'], /^earlyphase: bench --apex-fp16 times training steps: add --suite training$/);
  await refusedInOneLine(['bench', '--apex-fp16', '--suite', 'training'], /^earlyphase: bench --apex-fp16 compares with PyTorch autocast fp16 only: use --peer pytorch$/);
});
