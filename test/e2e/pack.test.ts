// Packed training through the driver (src/train/trainer.ts trainRuns), on lavapipe: runs trained
// together in packs write exactly the files they write trained one by one — weights, checkpoints,
// metrics, telemetry, done.json — including a run that diverges (it stops alone, with the same
// error, and the others go on) and a run that cannot join the others' lockstep (another start
// iteration: it trains in a pack of its own). The CLI side: `lottery --replicates 1-3 --pack 3` and
// `train --replicates 1-2 --pack 2` give the folders of unpacked replicates, and a packed lottery killed at a file operation
// resumes to the same bytes (test/fault/kill-suite.ts). A pack the device cannot hold is split. A
// run whose RunControl is stopped leaves its pack alone, as a diverged one does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openGpu } from '../../runner/host/dawn.ts';
import { loadDataset } from '../../runner/data/datasets.ts';
import { parseHparamArgv } from '../../src/train/hparams.ts';
import { trainRuns } from '../../src/train/trainer.ts';
import type { PackOutcome, TrainJob } from '../../src/train/train-job.ts';
import { DivergenceError } from '../../src/train/run-files.ts';
import { DEFAULT_TELEMETRY } from '../../src/train/telemetry.ts';
import { RunControl, RunStoppedError } from '../../src/train/control.ts';
import type { TrainEvent } from '../../src/train/events.ts';
import { MemoryStorage } from '../../viewer/memory-storage.ts';
import { tree, treeDiff } from '../fault/tree.ts';
import { killSuite, LOTTERY, TRAIN } from '../fault/kill-suite.ts';

const data = await loadDataset('fashion_mnist');
const gpu = await openGpu('llvmpipe');
console.log(`# adapter: ${gpu.adapter.description} (${gpu.adapter.shortName})`);
process.on('exit', () => gpu.destroy());

// 1,200 examples / 60 → 20 iterations per epoch; 25 iterations cross an epoch end (a checkpoint).
const hp = (...extra: string[]) => parseHparamArgv(['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist',
  '--subsample-fraction', '0.02', '--training-steps', '25it', '--batch-size', '60', ...extra]).hparams;

function jobs(): TrainJob[] {
  return [
    { run: 'r1', dir: 'r1', hparams: hp(), replicate: 1, data },
    { run: 'r2', dir: 'r2', hparams: hp('--lr', '1e5'), replicate: 2, data }, // diverges
    { run: 'r3', dir: 'r3', hparams: hp('--lr', '0.05', '--warmup-steps', '10it'), replicate: 3, data, saveIterations: [7], telemetry: DEFAULT_TELEMETRY },
    { run: 'r4', dir: 'r4', hparams: hp(), replicate: 4, data, startIteration: 5 }, // another start: not in the others' lockstep
    { run: 'r5', dir: 'r5', hparams: hp('--optimizer-name', 'adam', '--lr', '1e-3'), replicate: 5, data }, // another optimiser kind
  ];
}

test('runs trained in packs write byte-identical folders to runs trained one by one; a diverging run stops alone', { timeout: 600_000 }, async () => {
  const events: TrainEvent[] = [];
  const packed = new MemoryStorage(), alone = new MemoryStorage();
  const got = await trainRuns(gpu, packed, (e) => events.push(e), jobs(), { pack: 4 });
  const want = [];
  for (const j of jobs()) want.push(...await trainRuns(gpu, alone, () => {}, [j]));

  assert.deepEqual([...packed.files.keys()].sort(), [...alone.files.keys()].sort());
  for (const [path, bytes] of alone.files) assert.ok(Buffer.from(packed.files.get(path)!).equals(Buffer.from(bytes)), `${path} differs`);
  for (const [i, w] of want.entries()) {
    const g = got[i]!;
    if ('error' in w) {
      assert.ok('error' in g && g.error instanceof DivergenceError, `run ${i + 1}: expected it to diverge in the pack too`);
      assert.equal((g.error as Error).message, (w.error as Error).message);
    } else {
      assert.ok(!('error' in g), `run ${i + 1} failed in the pack: ${'error' in g ? g.error : ''}`);
      assert.equal(g.weightsHash, w.weightsHash, `run ${i + 1}`);
    }
  }
  assert.ok('error' in want[1]! && want[1].error instanceof DivergenceError, 'run 2 (lr 1e5) should diverge');
  // Runs 1-3 trained in lockstep: all three started before the first of them finished.
  const at = (type: string, run: string) => events.findIndex((e) => e.type === type && e.run === run);
  for (const r of ['r1', 'r2', 'r3']) assert.ok(at('start', r) < at('done', 'r1'), `${r} started after r1 finished: not packed`);
  // Runs 4 and 5 could not join them, so they trained after them.
  assert.ok(at('start', 'r4') > at('done', 'r1') && at('start', 'r5') > at('done', 'r1'));
});

test('a run whose control is stopped leaves its pack alone (as after a kill), the others train on to the bytes they write alone', { timeout: 600_000 }, async () => {
  // r2 is stopped at its first checkpoint (the end of epoch 1); r1 and r3 share its pack.
  const three = () => jobs().slice(0, 3).map((j, i) => ({ ...j, hparams: i === 1 ? hp() : j.hparams, control: new RunControl() }));
  const stopAtCheckpoint = (js: TrainJob[]) => (e: TrainEvent) => { if (e.type === 'checkpoint' && e.run === 'r2') js[1]!.control!.stop(); };
  const packedJobs = three(), packed = new MemoryStorage();
  const got = await trainRuns(gpu, packed, stopAtCheckpoint(packedJobs), packedJobs, { pack: 3 });
  const alone = new MemoryStorage(), want: PackOutcome[] = [];
  for (const j of three()) want.push(...await trainRuns(gpu, alone, stopAtCheckpoint([j, j, j]), [j]));
  for (const i of [0, 2]) {
    const g = got[i]!, w = want[i]!;
    assert.ok(!('error' in g) && !('error' in w), `r${i + 1} should finish`);
    assert.equal(g.weightsHash, w.weightsHash, `r${i + 1}`);
  }
  assert.ok('error' in got[1]! && got[1].error instanceof RunStoppedError, `r2: ${'error' in got[1]! ? got[1].error : 'finished'}`);
  assert.ok('error' in want[1]! && want[1].error instanceof RunStoppedError);
  assert.deepEqual([...packed.files.keys()].sort(), [...alone.files.keys()].sort());
  for (const [path, bytes] of alone.files) assert.ok(Buffer.from(packed.files.get(path)!).equals(Buffer.from(bytes)), `${path} differs`);
  assert.ok([...packed.files.keys()].some((k) => k.startsWith('r2/')) && ![...packed.files.keys()].includes('r2/done.json'), 'r2 keeps its checkpoint, no done.json');
});

test('a pack the device has no memory for is split in halves, each run still as trained alone', { timeout: 600_000 }, async () => {
  // The device's out-of-memory report is simulated for the first pack built (error scopes are how
  // the trainer learns of it); the halves then build normally.
  const device = gpu.device, pop = device.popErrorScope.bind(device), push = device.pushErrorScope.bind(device);
  const filters: GPUErrorFilter[] = [];
  let simulated = 0;
  device.pushErrorScope = (f: GPUErrorFilter) => { filters.push(f); push(f); };
  device.popErrorScope = async () => {
    const real = await pop();
    if (filters.pop() === 'out-of-memory' && simulated++ === 0) return { message: 'simulated: not enough memory' } as GPUError;
    return real;
  };
  const logs: string[] = [];
  const three = jobs().slice(0, 3).filter((_, i) => i !== 1); // r1 and r3
  let got: PackOutcome[];
  try {
    got = await trainRuns(gpu, new MemoryStorage(), (e) => { if (e.type === 'log') logs.push(e.message); }, three, { pack: 2 });
  } finally {
    device.pushErrorScope = push; device.popErrorScope = pop;
  }
  assert.equal(simulated, 3, 'one pack of 2 (refused), then two packs of 1');
  assert.ok(logs.some((l) => /a pack of 2 runs does not fit in GPU memory; training them as packs of 1 and 1/.test(l)), logs.join('\n'));
  const alone: PackOutcome[] = [];
  for (const j of three) alone.push(...await trainRuns(gpu, new MemoryStorage(), () => {}, [j]));
  got.forEach((r, i) => assert.equal('error' in r ? r.error : r.weightsHash, 'error' in alone[i]! ? alone[i]!.error : alone[i]!.weightsHash));
});

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
const PACKED = [...LOTTERY, '--replicates', '1-3', '--pack', '3'];

test('lottery --replicates 1-3 --pack 3 writes the folders of the three replicates run one at a time', { timeout: 600_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earlyphase-pack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (argv: string[], root: string) => spawnSync(process.execPath, [cli, ...argv, '--root', root], { encoding: 'utf8', timeout: 300_000 });
  const p = run(PACKED, join(dir, 'packed'));
  assert.equal(p.status, 0, p.stderr);
  assert.equal((p.stdout.match(/level {2}weights remaining/g) ?? []).length, 3, p.stdout);
  for (const r of [1, 2, 3]) {
    const a = run([...LOTTERY, '--replicate', String(r)], join(dir, 'alone'));
    assert.equal(a.status, 0, a.stderr);
  }
  assert.deepEqual(treeDiff(tree(join(dir, 'alone')), tree(join(dir, 'packed'))), []);
  const bad = run([...LOTTERY, '--pack', 'lots'], join(dir, 'never'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--pack "lots": expected a number of runs per pack \(1 = each run alone\) or auto/);
});

test('train --replicates 1-2 --pack 2 writes the folders of the two replicates trained one at a time, one result line each', { timeout: 600_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earlyphase-pack-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (argv: string[], root: string) => spawnSync(process.execPath, [cli, ...argv, '--root', root], { encoding: 'utf8', timeout: 300_000 });
  const p = run([...TRAIN, '--replicates', '1-2', '--pack', '2'], join(dir, 'packed'));
  assert.equal(p.status, 0, p.stderr);
  const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.run.replace(/^.*\/(replicate_\d)\/main$/, '$1')), ['replicate_1', 'replicate_2']);
  for (const r of [1, 2]) assert.equal(run([...TRAIN, '--replicate', String(r)], join(dir, 'alone')).status, 0);
  assert.deepEqual(treeDiff(tree(join(dir, 'alone')), tree(join(dir, 'packed'))), []);
});

killSuite('lottery --replicates 1-3 --pack 3', PACKED, 2);
