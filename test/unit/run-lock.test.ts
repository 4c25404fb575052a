// RunLock (runner/storage/run-lock.ts): one writer per run folder. A live owner keeps others out; a
// SIGKILLed owner on this host is taken over at once; an owner on another host whose heartbeat
// stopped is taken over after the stale time; an owner whose lock was taken over learns it at its
// next heartbeat; two successors of one dead owner never hold the lock together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCommand } from '../cli.ts';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunLock, RunLockBusyError, type LockInfo } from '../../runner/storage/run-lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'earlyphase-lock-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const lockModule = fileURLToPath(new URL('../../runner/storage/run-lock.ts', import.meta.url));

test('a live owner keeps others out; after its release the next one gets the lock', async () => {
  const path = join(dir, 'a/.lock');
  const a = await RunLock.acquire(path, { label: 'first' });
  await assert.rejects(RunLock.acquire(path, { label: 'second' }), (e: Error) => e instanceof RunLockBusyError && /being written by first/.test(e.message));
  await a.release();
  assert.equal(existsSync(path), false);
  const b = await RunLock.acquire(path, { label: 'second' });
  await b.release();
  const log = readFileSync(`${path}.log`, 'utf8').trim().split('\n').map((l) => l.split(' ').slice(2).join(' '));
  assert.deepEqual(log.map((l) => l.replace(/ \(.*\)/, '')), ['first acquire', 'first release', 'second acquire', 'second release']);
});

test('an owner killed with SIGKILL is taken over at once, long before its heartbeat goes stale', async (t) => {
  const path = join(dir, 'b/.lock');
  const child = startCommand(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const { RunLock } = await import(${JSON.stringify(lockModule)}); await RunLock.acquire(${JSON.stringify(path)}, { label: 'doomed' }); console.log('held'); setInterval(() => {}, 1000);`],
  { t, timeoutMs: 120_000, label: 'a lock owner' });
  await child.waitFor(/held/, { stream: 'out', what: 'the lock held' });
  await assert.rejects(RunLock.acquire(path, { label: 'successor', staleMs: 600_000 }), RunLockBusyError);
  child.kill();
  await child.done;
  const t0 = Date.now();
  const lock = await RunLock.acquire(path, { label: 'successor', staleMs: 600_000 });
  assert.ok(Date.now() - t0 < 5000);
  assert.match(readFileSync(`${path}.log`, 'utf8'), /successor .* takeover from doomed/);
  await lock.release();
});

test('an owner on another host is taken over only once its heartbeat is older than the stale time', async () => {
  const path = join(dir, 'c/.lock');
  const elsewhere = (ageMs: number): LockInfo => ({ owner: 'worker on node7', host: 'node7.invalid', pid: 1, since: new Date().toISOString(), heartbeat: Date.now() - ageMs });
  await RunLock.acquire(join(dir, 'c/x'), {}).then((l) => l.release()); // creates the folder
  writeFileSync(path, JSON.stringify(elsewhere(5_000)));
  await assert.rejects(RunLock.acquire(path, { staleMs: 30_000 }), /being written by worker on node7/);
  writeFileSync(path, JSON.stringify(elsewhere(31_000)));
  const lock = await RunLock.acquire(path, { staleMs: 30_000, label: 'me' });
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).owner, lock.info.owner);
  await lock.release();
});

test('an owner whose lock was taken over is told at its next heartbeat and leaves the new lock alone', async () => {
  const path = join(dir, 'd/.lock');
  let lostTo: LockInfo | null | undefined;
  const a = await RunLock.acquire(path, { label: 'sleeper', heartbeatMs: 60_000, onLost: (by) => { lostTo = by; } });
  const thief: LockInfo = { owner: 'thief', host: 'other.invalid', pid: 1, since: '', heartbeat: Date.now() };
  writeFileSync(path, JSON.stringify(thief));
  await a.beat();
  assert.equal(a.isLost, true);
  assert.equal(lostTo?.owner, 'thief');
  await a.release();
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).owner, 'thief', 'the loser removed the new owner\'s lock');
});

test('two successors of one dead owner hold the lock one after the other, never together', async () => {
  const path = join(dir, 'e/.lock');
  await RunLock.acquire(join(dir, 'e/x'), {}).then((l) => l.release());
  writeFileSync(path, JSON.stringify({ owner: 'dead', host: 'gone.invalid', pid: 1, since: '', heartbeat: 0 }));
  const held: string[] = [];
  let inside = 0, maxInside = 0;
  await Promise.all(['s1', 's2', 's3'].map(async (label) => {
    const lock = await RunLock.acquire(path, { label, wait: true, pollMs: 20 });
    inside++; maxInside = Math.max(maxInside, inside); held.push(label);
    await new Promise((r) => setTimeout(r, 100));
    inside--;
    await lock.release();
  }));
  assert.equal(held.length, 3);
  assert.equal(maxInside, 1, 'two successors held the lock at once');
  assert.equal((readFileSync(`${path}.log`, 'utf8').match(/takeover from dead/g) ?? []).length, 1);
});

test('a dead owner not yet reaped (a zombie) is taken over at once', async (t) => {
  if (process.platform !== 'linux') { t.skip('zombie state is read from /proc (Linux)'); return; }
  // A process that has exited but that its parent (a `sleep`, which never reaps) leaves unreaped.
  const parent = startCommand('sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 30'], { t, timeoutMs: 60_000 });
  const pid = Number((await parent.waitFor(/^(\d+)\n/, { stream: 'out', what: 'the pid of the sleep 0.1' }))[1]);
  const state = () => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)![0]; } catch { return 'gone'; } };
  for (const t0 = Date.now(); state() !== 'Z' && Date.now() - t0 < 10_000;) await new Promise((r) => setTimeout(r, 5));
  assert.equal(state(), 'Z', 'the owner should be a zombie (exited, not reaped)');
  const path = join(dir, 'zombie/.lock');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(dir, 'zombie'), { recursive: true });
  writeFileSync(path, JSON.stringify({ owner: 'zombie owner', host: hostname(), pid, since: new Date().toISOString(), heartbeat: Date.now() }));
  const lock = await RunLock.acquire(path, { label: 'successor' });
  assert.match(readFileSync(`${path}.log`, 'utf8'), /takeover from zombie owner/);
  await lock.release();
});

test('a lock file that cannot be read (empty, not JSON) is judged by its age: refused with a line naming it while fresh, taken over once stale', { timeout: 10_000 }, async () => {
  const { mkdirSync, utimesSync } = await import('node:fs');
  mkdirSync(join(dir, 'f'), { recursive: true });
  const path = join(dir, 'f/.lock');
  for (const [content, why] of [['', 'empty'], ['garbage{', 'not JSON'], ['null', 'JSON without an owner']] as const) {
    writeFileSync(path, content); // what a kill between an exclusive create and its write leaves, or another tool
    await assert.rejects(RunLock.acquire(path, { staleMs: 60_000 }), (e: Error) => e instanceof RunLockBusyError && !e.message.includes('\n') &&
      e.message.startsWith(`${path} is not a readable lock (${why}`) && /counts as abandoned once it is 60 s old, or delete it if nothing is writing/.test(e.message));
    const old = new Date(Date.now() - 61_000);
    utimesSync(path, old, old);
    const lock = await RunLock.acquire(path, { staleMs: 60_000, label: 'successor' });
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).owner, lock.info.owner);
    await lock.release();
    assert.match(readFileSync(`${path}.log`, 'utf8').trim().split('\n').at(-2)!, new RegExp(`successor .* takeover from an unknown owner \\(\\.lock is ${why}`));
  }
  assert.deepEqual(readdirSync(join(dir, 'f')).filter((f) => f.endsWith('.tmp')), [], 'a temporary lock file was left behind');
});

test('a waiter says what it waits for (the file and its holder) after a few seconds, and takes an unreadable lock over once it is stale', { timeout: 10_000 }, async () => {
  const path = join(dir, 'g/.lock');
  await RunLock.acquire(path, {}).then((l) => l.release());
  writeFileSync(path, '');
  const said: string[] = [];
  const t0 = Date.now();
  const lock = await RunLock.acquire(path, { wait: true, pollMs: 50, staleMs: 1500, noticeMs: 300, onWait: (_h, m) => said.push(m) });
  assert.ok(Date.now() - t0 >= 1000, 'taken over before it was stale');
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0]!, new RegExp(`^waiting for ${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: it is not a readable lock \\(empty, last changed \\d s ago\\); it is taken over once it is 2 s old$`));
  await lock.release();
  // A live holder is named with its heartbeat.
  const holder = await RunLock.acquire(path, { label: 'busy one' });
  const waiting = RunLock.acquire(path, { wait: true, pollMs: 50, noticeMs: 200, onWait: (_h, m) => said.push(m) });
  // Released once the waiter has said what it waits for (noticeMs after it started waiting).
  for (const t0 = Date.now(); said.length < 2; await new Promise((r) => setTimeout(r, 20))) assert.ok(Date.now() - t0 < 30_000, 'the waiter said nothing');
  await holder.release();
  await (await waiting).release();
  assert.match(said[1]!, /^waiting for .*\.lock: busy one \(\S+\) is writing .*\/g \(heartbeat \d s ago\); it is taken over if that process dies or its heartbeat stops for 60 s$/);
});

test('a holder whose lock was taken over writes nothing more into its folder: FsStorage refuses the write before its next heartbeat', async () => {
  const { FsStorage } = await import('../../runner/storage/fs-storage.ts');
  const { RunLockLostError } = await import('../../runner/storage/run-lock.ts');
  const storage = new FsStorage(dir);
  let lostTo: LockInfo | null | undefined;
  // No heartbeat for 10 minutes: as a process paused past the stale time and resumed right before a write.
  const lock = await RunLock.acquire(join(dir, 'h/.lock'), { label: 'sleeper', heartbeatMs: 600_000, onLost: (by) => { lostTo = by; } });
  await storage.write('h/run/metrics.csv', 'before\n');
  writeFileSync(join(dir, 'h/.lock'), JSON.stringify({ owner: 'successor', host: 'other.invalid', pid: 1, since: '', heartbeat: Date.now() }));
  await assert.rejects(storage.write('h/run/metrics.csv', 'after\n'), (e: Error) => e instanceof RunLockLostError && /h was taken over by successor .* it wrote nothing more there/.test(e.message));
  await assert.rejects(storage.remove('h/run/metrics.csv'), RunLockLostError);
  assert.equal(readFileSync(join(dir, 'h/run/metrics.csv'), 'utf8'), 'before\n');
  assert.equal(lostTo?.owner, 'successor');
  assert.equal(lock.isLost, true);
  await storage.write('elsewhere/x.txt', 'other folders are not its lock\'s'); // not guarded by this lock
  await lock.release();
  assert.equal(JSON.parse(readFileSync(join(dir, 'h/.lock'), 'utf8')).owner, 'successor');
  await storage.write('h/run/metrics.csv', 'the successor writes\n'); // released: nothing held here any more
});
