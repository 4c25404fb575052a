// One writer per run folder for commands run by hand (runner/storage/run-lock.ts): a second identical
// `lottery` while the first runs is refused with one line naming the writer (exit 2) instead of
// training every level a second time at once; after a SIGKILL the next run takes the folder over
// at once (it resumes from whatever checkpoint the folder holds). A lock file that cannot be read
// (empty: a kill between create and write) is named in one line, or waited on and taken over once
// stale; a run paused until its lock was taken over writes nothing more into its folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockOwnersGone } from '../lock-owner.ts';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunLock } from '../../runner/storage/run-lock.ts';
import { tempDir } from '../temp-dir.ts';

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'earlyphase-lockcli-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const ARGS = ['lottery', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '3ep', '--levels', '1', '--evaluate-only-at-end', '--adapter', 'llvmpipe', '--root', root];

/** Starts the command; resolves once its stderr matches `re`, with the process and its exit. */
async function startUntil(args: string[], re: RegExp) {
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    p.stderr.on('data', (d) => { err += String(d); if (re.test(err)) resolve(); });
    void exited.then(() => reject(new Error(`exited before ${re}: ${err}`)));
  });
  return { p, exited, err: () => err };
}

test('a second identical lottery is refused while the first writes; a killed one is taken over and resumed', { timeout: 180_000 }, async () => {
  const first = await startUntil(ARGS, /level_0: .*iterations 0→30/);
  const second = spawnSync(process.execPath, [cli, ...ARGS], { encoding: 'utf8' });
  assert.equal(second.status, 2, second.stderr);
  // Besides the line saying which data files were read, one line naming the writer.
  const lines = second.stderr.trim().split('\n').filter((l) => !l.startsWith('data: '));
  assert.match(lines[0]!, /^earlyphase: \S+lottery_\w+\/replicate_1 is being written by earlyphase lottery \(\S+:\d+:\w+\) .*wait for it to finish or stop it/);
  assert.equal(lines.length, 1, second.stderr);
  assert.equal(await first.exited, 0, first.err());

  rmSync(root, { recursive: true, force: true });
  const doomed = await startUntil(ARGS, /level_0: .*iterations 0→30/);
  await new Promise((r) => setTimeout(r, 1500));
  doomed.p.kill('SIGKILL');
  await doomed.exited;
  await lockOwnersGone(root);
  const again = spawnSync(process.execPath, [cli, ...ARGS], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  const trunk = join(root, readdirSync(root)[0]!, 'replicate_1');
  assert.match(readFileSync(join(trunk, '.lock-lottery.log'), 'utf8'), /takeover from earlyphase lottery .*\n.* release\n$/);
});

const TRAIN = ['train', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02', '--adapter', 'llvmpipe'];
/** The `.lock-train` of a train command's run (from --display-output-location: <root>/train_*\/replicate_1/main). */
const trainLock = (args: string[]) => join(dirname(spawnSync(process.execPath, [cli, ...args, '--display-output-location'], { encoding: 'utf8' }).stdout.split('\n')[0]!), '.lock-train');

test('an empty or unparsable lock file is one line naming it (train, exit 2) or waited on with a message and taken over once stale (sweep)', { timeout: 120_000 }, async () => {
  const base = tempDir('earlyphase-lockcli-');
  const args = [...TRAIN, '--training-steps', '1ep', '--root', join(base, 'runs')];
  const lock = trainLock(args);
  mkdirSync(dirname(lock), { recursive: true });
  for (const [content, why] of [['', 'empty'], ['garbage{', 'not JSON']]) {
    writeFileSync(lock, content);
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('data: '));
    assert.deepEqual(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^earlyphase: ${lock.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not a readable lock \\(${why}, last changed \\d+ s ago\\).*once it is 60 s old, or delete it if nothing is writing`));
  }
  // A sweep waits for it, says what it waits for, and takes it over once it is stale.
  const spec = join(base, 's.json');
  writeFileSync(spec, JSON.stringify({ name: 's', flags: TRAIN.slice(1, -2).concat('--training-steps', '1ep'), levels: '0', rewinding_steps: ['0it'], replicates: [1], evaluate_only_at_end: true }));
  const dry = spawnSync(process.execPath, [cli, 'sweep', spec, '--root', join(base, 'runs'), '--dry-run'], { encoding: 'utf8' });
  const trunk = dirname(dirname(dry.stdout.match(/^\s+(\/\S+\/level_0\/main)$/m)![1]!));
  mkdirSync(trunk, { recursive: true });
  writeFileSync(join(trunk, '.lock-lottery'), '');
  const t0 = Date.now();
  const s = spawnSync(process.execPath, [cli, 'sweep', spec, '--root', join(base, 'runs'), '--adapter', 'llvmpipe'], { encoding: 'utf8', timeout: 100_000, env: { ...process.env, EARLYPHASE_LOCK_STALE_MS: '5000' } });
  assert.equal(s.status, 0, s.stderr);
  assert.ok(Date.now() - t0 >= 5000, 'taken over before it was stale');
  assert.match(s.stderr, /waiting for \S+\/\.lock-lottery: it is not a readable lock \(empty, last changed \d s ago\); it is taken over once it is 5 s old/);
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
  const lock = trainLock(args);
  // No heartbeat for 10 minutes: it learns of the takeover only when it next writes, the worst case.
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, EARLYPHASE_LOCK_HEARTBEAT_MS: '600000' } });
  t.after(() => { try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* gone */ } });
  let err = '';
  p.stderr.on('data', (d) => { err += String(d); });
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  // Paused once its first checkpoint is written: the successor (next command) resumes from it.
  const checkpoint = join(dirname(lock), 'main', 'checkpoint.safetensors.sha256');
  for (const t0 = Date.now(); !existsSync(checkpoint); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() - t0 > 60_000 || p.exitCode !== null) assert.fail(`no checkpoint within 60 s: ${err}`);
  }
  const owner = (JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid; // the CLI under the wrapper
  process.kill(owner, 'SIGSTOP');
  let successor: RunLock | null = null;
  try {
    // Its heartbeat stops: a successor takes the folder over once it is stale (1 s here).
    successor = await RunLock.acquire(lock, { label: 'successor', wait: true, pollMs: 100, staleMs: 1000 });
    const before = snapshot(dirname(lock));
    process.kill(owner, 'SIGCONT');
    assert.equal(await exited, 2, err);
    assert.deepEqual(snapshot(dirname(lock)), before, 'the old holder wrote into the folder after losing its lock');
    assert.match(err, /earlyphase: successor \(\S+\) took over train_\w+\/replicate_1; stopping/);
    assert.match(err, /earlyphase: \S+\/replicate_1 was taken over by successor .* it wrote nothing more there/);
  } finally {
    try { process.kill(owner, 'SIGCONT'); } catch { /* gone */ }
    await successor?.release();
  }
  // Nothing lost: the run continues from its last checkpoint under the next owner.
  const again = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 100_000 });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming at iteration [1-9]\d*/);
});
