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
import { join } from 'node:path';
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
import { killSuite, LOTTERY, lotteryReference, referenceRun, TRAIN, trainReference, type KillReference } from '../fault/kill-suite.ts';
import { copyFixture } from '../fixtures.ts';
import { earlyphase } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

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

/**
 * A job of jobs() trained alone (a pack of one), once in this file: r1 and r3 are the same jobs in
 * the three tests below, and the same job trains to the same bytes.
 */
const aloneRuns = new Map<string, Promise<{ files: Map<string, Uint8Array<ArrayBuffer>>; outcome: PackOutcome }>>();
function trainedAlone(j: TrainJob): Promise<{ files: Map<string, Uint8Array<ArrayBuffer>>; outcome: PackOutcome }> {
  let r = aloneRuns.get(j.run);
  if (!r) {
    r = (async () => {
      const storage = new MemoryStorage();
      const [outcome] = await trainRuns(gpu, storage, () => {}, [j]);
      return { files: storage.files, outcome: outcome! };
    })();
    aloneRuns.set(j.run, r);
  }
  return r;
}

test('runs trained in packs write byte-identical folders to runs trained one by one; a diverging run stops alone', { timeout: 600_000 }, async () => {
  const events: TrainEvent[] = [];
  const packed = new MemoryStorage(), alone = new MemoryStorage();
  const got = await trainRuns(gpu, packed, (e) => events.push(e), jobs(), { pack: 4 });
  const want = [];
  for (const j of jobs()) {
    const a = await trainedAlone(j);
    want.push(a.outcome);
    for (const [path, bytes] of a.files) alone.files.set(path, bytes);
  }

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
  // r1 and r3 as trained alone above; r2 (stopped at its first checkpoint) alone here.
  const alone = new MemoryStorage(), want: PackOutcome[] = [];
  for (const j of three()) {
    if (j.run === 'r2') { want.push(...await trainRuns(gpu, alone, stopAtCheckpoint([j, j, j]), [j])); continue; }
    const a = await trainedAlone(j);
    want.push(a.outcome);
    for (const [path, bytes] of a.files) alone.files.set(path, bytes);
  }
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
  for (const j of three) alone.push((await trainedAlone(j)).outcome);
  got.forEach((r, i) => assert.equal('error' in r ? r.error : r.weightsHash, 'error' in alone[i]! ? alone[i]!.error : alone[i]!.weightsHash));
});

const PACKED = [...LOTTERY, '--replicates', '1-3', '--pack', '3'];
/** The packed lottery, uninterrupted under the fault injector: compared with the replicates run alone, and the reference of its kill test. */
let packedRun: Promise<KillReference> | null = null;
const packedReference = () => (packedRun ??= referenceRun(PACKED));

test('lottery --replicates 1-3 --pack 3 writes the folders of the three replicates run one at a time', { timeout: 600_000 }, async () => {
  const dir = tempDir('earlyphase-pack-');
  const run = (argv: string[], root: string) => earlyphase([...argv, '--root', root]);
  const p = await packedReference();
  assert.equal((p.out.match(/level {2}weights remaining/g) ?? []).length, 3, p.out);
  // Replicate 1 alone is the lottery kill test's uninterrupted run (a shared fixture); 2 and 3 run here.
  const alone = copyFixture((await lotteryReference()).root, 'earlyphase-pack-alone-');
  for (const r of [2, 3]) {
    const a = await run([...LOTTERY, '--replicate', String(r)], alone);
    assert.equal(a.status, 0, a.err);
  }
  assert.deepEqual(treeDiff(tree(alone), p.tree), []);
  const bad = await run([...LOTTERY, '--pack', 'lots'], join(dir, 'never'));
  assert.equal(bad.status, 2);
  assert.match(bad.err, /--pack "lots": expected a number of runs per pack \(1 = each run alone\) or auto/);
});

test('train --replicates 1-2 --pack 2 writes the folders of the two replicates trained one at a time, one result line each', { timeout: 600_000 }, async () => {
  const dir = tempDir('earlyphase-pack-train-');
  const run = (argv: string[], root: string) => earlyphase([...argv, '--root', root]);
  const p = await run([...TRAIN, '--replicates', '1-2', '--pack', '2'], join(dir, 'packed'));
  assert.equal(p.status, 0, p.err);
  const lines = p.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.run.replace(/^.*\/(replicate_\d)\/main$/, '$1')), ['replicate_1', 'replicate_2']);
  // Replicate 1 alone is the train kill test's uninterrupted run (a shared fixture); 2 runs here.
  const alone = copyFixture((await trainReference()).root, 'earlyphase-pack-alone-');
  const a = await run([...TRAIN, '--replicate', '2'], alone);
  assert.equal(a.status, 0, a.err);
  assert.deepEqual(treeDiff(tree(alone), tree(join(dir, 'packed'))), []);
});

// The kills a pack adds to the lottery kill test's (kill-lottery.test.ts, evenly spread): the two
// that need resuming rather than redoing — after metrics.csv but before the checkpoint (all three
// members resume from their checkpoints in lockstep) and done.json without its sidecar. Each try
// trains three lotteries twice, so evenly spread ones here would double this file's time for
// little more; EP_FAULT_FULL=1 tries every file operation.
killSuite('lottery --replicates 1-3 --pack 3', PACKED, 0, packedReference);
