// The job queue under faults (issue 23), against a redis-server of our own on a free loopback port:
//  - jobs are untrusted input: a job hash whose data is not JSON, or is null, is listed by `queue
//    status` (with or without a sweep name) instead of a crash, failed by a worker at once with a
//    one-line reason (one attempt, no stall loop), skipped by `queue retry`, removed by `queue clean`;
//  - after Redis lost jobs (a trunk gone, a trunk completed whose dependents are gone), status says
//    which are lost and the exact command that enqueues the sweep again, which recovers them; jobs
//    that `queue clean` removed are not taken for lost ones;
//  - a worker without the data hands the jobs back without using an attempt and, after two in a
//    row, stops taking jobs and exits with code 3 instead of burning every job's attempts.
// No training runs here: the workers only take jobs they cannot run. Each test has a Redis database
// of its own, so that one that fails leaves nothing in the next one's way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { untrustedJobClasses } from '../../runner/sweep/queue/job-data.ts';
import { Redis, Worker, freePort } from '../queue-helpers.ts';
import { earlyphase, runCommand } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('earlyphase-queue-faults-');
const env = { ...process.env };
delete env.EARLYPHASE_DATA;
const run = (args: string[]) => earlyphase(args, { baseEnv: env, timeoutMs: 120_000 });

if ((await runCommand('redis-server', ['--version']).catch(() => null))?.status !== 0) throw new Error('redis-server is not installed: run bash runner/setup.sh (Debian package redis-server)');
const redis = new Redis(await freePort(), dir);
await redis.start();
const bullmq = await import('bullmq');
// The queue as the tests see it directly, read as earlyphase reads it (a malformed job does not throw).
const { Queue: TolerantQueue } = untrustedJobClasses(bullmq);
const connection = (db: number) => ({ host: '127.0.0.1', port: redis.port, db });
const queues: { close(): Promise<void> }[] = [];
const openQueue = (db: number): Queue => { const q = new TolerantQueue('earlyphase', { connection: connection(db) }); queues.push(q); return q; };
const workers: Worker[] = [];
test.after(async () => {
  for (const w of workers) w.kill();
  try { await Promise.all(queues.map((q) => q.close())); } finally { redis.kill(); }
});

const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--subsample-fraction', '0.02', '--training-steps', '1ep'];
const writeSpec = (name: string, s: object) => { const p = join(dir, `${name}.json`); writeFileSync(p, JSON.stringify({ name, evaluate_only_at_end: true, replicates: [1], levels: '0', ...s })); return p; };
const emptyData = join(dir, 'empty-data');
mkdirSync(emptyData, { recursive: true });
/** A worker's exit code, or 'still running' after `ms`: a test of a worker that should stop must not wait for ever. */
async function exitWithin(w: Worker, ms: number): Promise<number | null | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([w.exited, new Promise<string>((r) => { timer = setTimeout(() => r('still running'), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}
const status = (url: string, sweep?: string) => run(['queue', 'status', '--queue', url, ...(sweep ? [sweep] : [])]);
const statusJson = async (url: string, sweep: string) => { const r = await run(['queue', 'status', '--queue', url, sweep, '--json']); assert.equal(r.status, 0, r.err); return JSON.parse(r.out); };

test('a job whose data is not JSON, or null, is shown by status, failed at once by a worker, skipped by retry and removed by clean', { timeout: 300_000 }, async (t) => {
  const url = `${redis.url}/1`, queue = openQueue(1);
  await queue.add('bad: lottery', { placeholder: true }, { jobId: 'bad.lottery.notjson', attempts: 4 });
  await (await queue.client).hset(queue.toKey('bad.lottery.notjson'), { data: 'garbage{' }); // another tool, or a write cut off
  await queue.add('bad: lottery', null, { jobId: 'bad.lottery.null', attempts: 4 });
  for (const sweep of [undefined, 'bad']) {
    const r = await status(url, sweep);
    assert.equal(r.status, 0, r.err);
    assert.match(r.out, /^malformed job bad\.lottery\.notjson \(waiting: a worker fails it at once\): its data \("garbage\{"\) is not JSON; earlyphase queue clean bad removes it$/m);
    assert.match(r.out, /^malformed job bad\.lottery\.null \(waiting: a worker fails it at once\): its data is null, not a sweep job; earlyphase queue clean bad removes it$/m);
  }
  const w = new Worker('failer', ['--queue', url, '--root', join(dir, 'runs'), '--data-dir', emptyData, '--exit-when-idle'], env, t);
  workers.push(w);
  assert.equal(await exitWithin(w, 200_000), 0, w.log);
  assert.match(w.log, /bad\.lottery\.notjson failed: job bad\.lottery\.notjson: its data \("garbage\{"\) is not JSON; earlyphase cannot run it .* \(not retried\)/);
  assert.match(w.log, /bad\.lottery\.null failed: job bad\.lottery\.null: its data is null, not a sweep job; .* \(not retried\)/);
  const s = await statusJson(url, 'bad');
  assert.deepEqual(s.malformed.map((m: { id: string; state: string; attempts: number }) => [m.id, m.state, m.attempts]).sort(),
    [['bad.lottery.notjson', 'failed', 1], ['bad.lottery.null', 'failed', 1]]);
  assert.match((await run(['queue', 'retry', '--queue', url, 'bad'])).out, /^retrying 0 failed jobs; skipped 2 malformed jobs/);
  assert.match((await run(['queue', 'clean', '--queue', url, 'bad'])).out, /^removed 2 jobs from the queue \(2 malformed\)/);
  const gone = await status(url, 'bad');
  assert.equal(gone.status, 2, gone.err);
  assert.match(gone.err, /no sweep "bad" in the queue/);
});

test('after Redis lost jobs, status names the lost ones and the exact command that enqueues them again, which recovers them', { timeout: 300_000 }, async () => {
  const spec = writeSpec('lost', { flags: ['--dataset-name', 'fashion_mnist', ...FLAGS], rewinding_steps: ['0it', '5it'], branches: [{ name: 'randomly_reinitialize', levels: '0' }] });
  const url = `${redis.url}/2`, queue = openQueue(2);
  const root = join(dir, 'lost-runs');
  const e = await run(['sweep', spec, '--queue', url, '--root', root]);
  assert.equal(e.status, 0, e.err);
  assert.match(e.err, /4 jobs \(2 lotteries, 2 branches, 0 instability analyses\); added 2/);
  // What a Redis that lost its data leaves: one trunk completed without its dependents, the other gone.
  const taker = new bullmq.Worker('earlyphase', null, { connection: connection(2) });
  try {
    const first = await taker.getNextJob('token');
    await first!.moveToCompleted({ rows: [] }, 'token', false);
  } finally {
    await taker.close();
  }
  const [other] = await queue.getJobs(['waiting']);
  await other!.remove();
  const r = await status(url, 'lost');
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /^sweep lost: 1\/4 done \(25%\), 0 running, 0 waiting, 0 failed, 0 not yet runnable \(after their trunk\), 3 lost$/m);
  const requeue = r.out.match(/3 jobs are missing from the queue and nothing will add them .*Redis lost its data .*Enqueue the sweep again \(finished runs are skipped\): (earlyphase sweep .*)$/m);
  assert.ok(requeue, r.out);
  assert.equal(requeue[1], `earlyphase sweep ${spec} --queue ${url} --root ${root}`);
  // The command as shown recovers every job: nothing is lost any more.
  const again = await run(requeue[1]!.split(' ').slice(1));
  assert.equal(again.status, 0, again.err);
  assert.match(again.err, /added 2, already queued or done 1/);
  const after = (await statusJson(url, 'lost')).sweeps[0];
  assert.deepEqual([after.done, after.waiting, after.pending, after.lost], [1, 2, 1, 0], JSON.stringify(after));
  // A job `queue clean` removed is not a lost one.
  assert.match((await run(['queue', 'clean', '--queue', url, 'lost'])).out, /^removed 1 job /);
  const cleaned = (await statusJson(url, 'lost')).sweeps[0];
  assert.deepEqual([cleaned.lost, cleaned.cleaned, cleaned.waiting, cleaned.pending], [0, 1, 2, 1], JSON.stringify(cleaned));
  assert.match((await run(['queue', 'clean', '--queue', url, 'lost', '--all'])).out, /^removed 2 jobs/);
});

test('a worker without the data hands the jobs back (no attempt used) and, after two in a row, stops with exit code 3', { timeout: 300_000 }, async (t) => {
  const spec = writeSpec('nodata', { flags: ['--dataset-name', 'mnist', ...FLAGS], rewinding_steps: ['0it', '5it', '10it'] });
  const url = `${redis.url}/3`, queue = openQueue(3);
  const e = await run(['sweep', spec, '--queue', url, '--root', join(dir, 'runs'), '--data-dir', emptyData]);
  assert.equal(e.status, 0, e.err);
  assert.match(e.err, /added 3/);
  const t0 = Date.now();
  const w = new Worker('nodata', ['--queue', url, '--root', join(dir, 'runs'), '--data-dir', emptyData], env, t);
  workers.push(w);
  assert.equal(await exitWithin(w, 200_000), 3, w.log);
  assert.equal([...w.log.matchAll(/nodata\.lottery\.\w+ cannot run here: dataset "mnist" not found in --data-dir \S+ .*; handed back to the queue \(no attempt used\)/g)].length, 2, w.log);
  assert.match(w.log, /2 jobs in a row cannot run on this worker \(dataset "mnist" not found in --data-dir .*\); it stops taking jobs, and they stay queued for a worker that can run them\. .*exit code 3/);
  console.log(`# the worker without the data stopped after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const jobs = await queue.getJobs(['waiting', 'failed', 'delayed', 'active']);
  assert.deepEqual(jobs.map((j) => [j.attemptsMade, j.finishedOn ?? null]), [[0, null], [0, null], [0, null]], 'a job used an attempt or failed');
  assert.equal((await statusJson(url, 'nodata')).sweeps[0].waiting, 3);
});
