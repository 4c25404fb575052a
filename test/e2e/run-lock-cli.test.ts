// One writer per run folder for commands run by hand (runner/storage/run-lock.ts): a second identical
// `lottery` while the first runs is refused with one line naming the writer (exit 2) instead of
// training every level a second time at once; after a SIGKILL the next run takes the folder over
// at once (it resumes from whatever checkpoint the folder holds). A lock file that cannot be read
// (empty: a kill between create and write) is named in one line, or waited on and taken over once
// stale; a run paused until its lock was taken over writes nothing more into its folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockOwnersGone } from '../lock-owner.ts';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RunLock } from '../../runner/storage/run-lock.ts';
import { tempDir } from '../temp-dir.ts';
import { earlyphase, errorLines, startCli } from '../cli.ts';

const root = tempDir('earlyphase-lockcli-');
const ARGS = ['lottery', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '3ep', '--levels', '1', '--evaluate-only-at-end', '--adapter', 'llvmpipe', '--root', root];

/** Level 0's checkpoint sidecar (written after the checkpoint) under the lottery folder in `root`, once there is one. */
const level0Checkpoint = () => {
  const lottery = readdirSync(root).find((d) => d.startsWith('lottery_'));
  return lottery ? join(root, lottery, 'replicate_1', 'level_0', 'main', 'checkpoint.safetensors.sha256') : null;
};

test('a second identical lottery is refused while the first writes; a killed one is taken over and resumed', { timeout: 240_000 }, async (t) => {
  const first = startCli(ARGS, { t });
  await first.waitFor(/level_0: .*iterations 0→30/, { what: 'level 0 starting to train (the folder is locked)' });
  // Held still while the second one starts: the whole lottery trains in about as long as a CLI takes
  // to start, so it could otherwise finish first (its lock is fresh for 60 s without a heartbeat).
  const lottery = readdirSync(root).find((d) => d.startsWith('lottery_'))!;
  const owner = (JSON.parse(readFileSync(join(root, lottery, 'replicate_1', '.lock-lottery'), 'utf8')) as { pid: number }).pid; // the CLI under the wrapper
  process.kill(owner, 'SIGSTOP');
  let second;
  try {
    second = await earlyphase(ARGS);
  } finally {
    process.kill(owner, 'SIGCONT');
  }
  assert.equal(second.status, 2, second.err);
  // Besides the line saying which data files were read, one line naming the writer.
  const lines = errorLines(second.err);
  assert.match(lines[0]!, /^earlyphase: \S+lottery_\w+\/replicate_1 is being written by earlyphase lottery \(\S+:\d+:\w+\) .*wait for it to finish or stop it/);
  assert.equal(lines.length, 1, second.err);
  const firstDone = await first.done;
  assert.equal(firstDone.status, 0, firstDone.err);

  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  const doomed = startCli(ARGS, { t });
  await doomed.waitForFile(level0Checkpoint, { what: "level 0's first checkpoint" });
  doomed.kill();
  await doomed.done;
  await lockOwnersGone(root);
  const again = await earlyphase(ARGS);
  assert.equal(again.status, 0, again.err);
  const trunk = join(root, readdirSync(root)[0]!, 'replicate_1');
  assert.match(readFileSync(join(trunk, '.lock-lottery.log'), 'utf8'), /takeover from earlyphase lottery .*\n.* release\n$/);
});

const TRAIN = ['train', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02', '--adapter', 'llvmpipe'];
/** The `.lock-train` of a train command's run (from --display-output-location: <root>/train_*\/replicate_1/main). */
const trainLock = async (args: string[]) => join(dirname((await earlyphase([...args, '--display-output-location'])).out.split('\n')[0]!), '.lock-train');

test('an empty or unparsable lock file is one line naming it (train, exit 2) or waited on with a message and taken over once stale (sweep)', { timeout: 180_000 }, async (t) => {
  const base = tempDir('earlyphase-lockcli-');
  const args = [...TRAIN, '--training-steps', '1ep', '--root', join(base, 'runs')];
  const lock = await trainLock(args);
  mkdirSync(dirname(lock), { recursive: true });
  for (const [content, why] of [['', 'empty'], ['garbage{', 'not JSON']]) {
    writeFileSync(lock, content);
    const r = await earlyphase(args, { timeoutMs: 60_000 });
    assert.equal(r.status, 2, r.err);
    const lines = errorLines(r.err);
    assert.deepEqual(lines.length, 1, r.err);
    assert.match(lines[0]!, new RegExp(`^earlyphase: ${lock.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a readable lock \\(${why}, last changed \\d+ s ago\\).*once it is 60 s old, or delete it if nothing is writing`));
  }
  // A sweep waits for it, says what it waits for, and takes it over once it is stale.
  const spec = join(base, 's.json');
  writeFileSync(spec, JSON.stringify({ name: 's', flags: TRAIN.slice(1, -2).concat('--training-steps', '1ep'), levels: '0', rewinding_steps: ['0it'], replicates: [1], evaluate_only_at_end: true }));
  const dry = await earlyphase(['sweep', spec, '--root', join(base, 'runs'), '--dry-run']);
  const trunk = dirname(dirname(dry.out.match(/^\s+(\/\S+\/level_0\/main)$/m)![1]!));
  mkdirSync(trunk, { recursive: true });
  const lockPath = join(trunk, '.lock-lottery');
  writeFileSync(lockPath, '');
  // Kept fresh (as a live writer's would be) until the sweep says it waits for it, however long the
  // sweep takes to start; from then on it ages, and only once it is 5 s old may it be taken over.
  const touch = () => { const now = new Date(); utimesSync(lockPath, now, now); };
  const fresh = setInterval(touch, 100);
  const sweep = startCli(['sweep', spec, '--root', join(base, 'runs'), '--adapter', 'llvmpipe'], { t, timeoutMs: 100_000, env: { EARLYPHASE_LOCK_STALE_MS: '5000' } });
  let lastTouch: number;
  try {
    await sweep.waitFor(/waiting for \S+\/\.lock-lottery: it is not a readable lock \(empty, last changed \d s ago\); it is taken over once it is 5 s old/,
      { what: 'the sweep saying it waits for the unreadable lock' });
  } finally {
    clearInterval(fresh);
    touch();
    lastTouch = Date.now();
  }
  const s = await sweep.done;
  assert.equal(s.status, 0, s.err);
  const takeover = readFileSync(join(trunk, '.lock-lottery.log'), 'utf8').split('\n').find((l) => /takeover from an unknown owner/.test(l));
  assert.ok(takeover, 'no takeover in the lock log');
  assert.ok(Number(takeover.split(' ')[1]) - lastTouch >= 4900, `taken over ${Number(takeover.split(' ')[1]) - lastTouch} ms after the lock was last changed: before it was stale`);
  assert.match(readFileSync(join(trunk, '.lock-lottery.log'), 'utf8'), /takeover from an unknown owner \(\.lock-lottery is empty\)/);
});

/** Every file under `dir` but the lock and its log, with its bytes' hash: what a writer changed. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const p = join(dir, f);
    if (/(^|\/)\.lock-train(\.log)?$/.test(f) || !statSync(p).isFile()) continue;
    out.set(f, createHash('sha256').update(readFileSync(p)).digest('hex'));
  }
  return out;
}

test('a train paused until its lock was taken over writes nothing more into its folder when it resumes (SIGSTOP, takeover, SIGCONT)', { timeout: 120_000 }, async (t) => {
  const base = tempDir('earlyphase-lockcli-');
  const args = [...TRAIN, '--training-steps', '10ep', '--root', join(base, 'runs')];
  const lock = await trainLock(args);
  // No heartbeat for 10 minutes: it learns of the takeover only when it next writes, the worst case.
  const p = startCli(args, { t, env: { EARLYPHASE_LOCK_HEARTBEAT_MS: '600000' } });
  // Paused once its first checkpoint is written: the successor (next command) resumes from it.
  await p.waitForFile(join(dirname(lock), 'main', 'checkpoint.safetensors.sha256'), { what: 'the first checkpoint', timeoutMs: 60_000 });
  const owner = (JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid; // the CLI under the wrapper
  process.kill(owner, 'SIGSTOP');
  let successor: RunLock | null = null;
  try {
    // Its heartbeat stops: a successor takes the folder over once it is stale (1 s here).
    successor = await RunLock.acquire(lock, { label: 'successor', wait: true, pollMs: 100, staleMs: 1000 });
    const before = snapshot(dirname(lock));
    process.kill(owner, 'SIGCONT');
    const r = await p.done;
    assert.equal(r.status, 2, r.err);
    assert.deepEqual(snapshot(dirname(lock)), before, 'the old holder wrote into the folder after losing its lock');
    const err = r.err;
    assert.match(err, /earlyphase: successor \(\S+\) took over train_\w+\/replicate_1; stopping/);
    assert.match(err, /earlyphase: \S+\/replicate_1 was taken over by successor .* it wrote nothing more there/);
  } finally {
    try { process.kill(owner, 'SIGCONT'); } catch { /* gone */ }
    await successor?.release();
  }
  // Nothing lost: the run continues from its last checkpoint under the next owner.
  const again = await earlyphase(args, { timeoutMs: 100_000 });
  assert.equal(again.status, 0, again.err);
  assert.match(again.err, /resuming at iteration [1-9]\d*/);
});
