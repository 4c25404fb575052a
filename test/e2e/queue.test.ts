// Distributed sweeps (`earlyphase sweep --queue`, `earlyphase worker`, `earlyphase queue`) against
// a real redis-server on a free loopback port, started here and killed at the end, on lavapipe:
//  - bad input (malformed URL, Redis down) is one line naming the URL, exit 2;
//  - 3 workers on a small LeNet sweep, one SIGKILLed in the middle of a job and Redis restarted
//    mid-sweep: every worker takes a job, the killed job resumes elsewhere from its checkpoint,
//    no run folder had two writers at once, and every run's final weights hash equals the same
//    sweep run locally without --queue;
//  - one worker with --pack 2 trains the same sweep's jobs two at a time: every job completes and
//    the final weights hashes equal the local sweep's;
//  - a job with bad flags fails at once without retries while the sweep goes on; data missing on
//    one worker is handed back (no attempt used), that worker exits with code 3 after two such
//    jobs in a row, and another worker completes it; SIGTERM hands the running job back and its
//    successor resumes from the checkpoint.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Redis, Worker as QueueWorker, firstOf, freePort } from '../queue-helpers.ts';
import { earlyphase, runCommand } from '../cli.ts';
import { refusedInOneLine } from '../cli-parse.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('earlyphase-queue-');
const env = { ...process.env };
delete env.EARLYPHASE_DATA;
// A home of its own: MNIST must be missing (the data-missing test), whatever ~/open_lth_datasets holds here.
env.HOME = join(dir, 'home');
const run = (args: string[]) => earlyphase(args, { baseEnv: env });
/** A worker process (test/queue-helpers.ts) without EARLYPHASE_DATA, killed when test `t` ends. */
class Worker extends QueueWorker { constructor(name: string, args: string[], t: TestContext) { super(name, args, env, t); } }

// CI installs it (runner/setup.sh); without it these tests fail, they are not skipped.
if ((await runCommand('redis-server', ['--version']).catch(() => null))?.status !== 0) throw new Error('redis-server is not installed: run bash runner/setup.sh (Debian package redis-server)');
const redis = new Redis(await freePort(), join(dir, 'redis'));
mkdirSync(redis.dataDir);
await redis.start();
const workers: Worker[] = [];
test.after(() => {
  for (const w of workers) w.kill();
  redis.kill();
});

const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--subsample-fraction', '0.02', '--training-steps', '3ep'];
const writeSpec = (name: string, s: object) => { const p = join(dir, `${name}.json`); writeFileSync(p, JSON.stringify({ name, evaluate_only_at_end: true, replicates: [1], ...s })); return p; };

function doneHashes(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f === 'done.json') out.set(relative(root, d), JSON.parse(readFileSync(p, 'utf8')).weightsHash);
    }
  };
  walk(root);
  return out;
}

function lockLogs(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else if (/^\.lock-.*\.log$/.test(f)) out.push(p); } };
  walk(root);
  return out;
}

async function status(sweep: string) {
  const r = await run(['queue', 'status', '--queue', redis.url, sweep, '--json']);
  assert.equal(r.status, 0, r.err);
  return JSON.parse(r.out).sweeps[0];
}

test('bad queue input: a malformed URL and a Redis that is down are one line naming the URL, exit 2', async () => {
  const spec = writeSpec('bad', { flags: ['--dataset-name', 'fashion_mnist', ...FLAGS], levels: '0', rewinding_steps: ['0it'] });
  // A malformed URL is refused while parsing (test/cli-parse.ts); the CLI prints that as one line (the first case, as a process).
  const malformed = [['sweep', spec, '--queue', 'redis//nohost'], ['worker', '--queue', 'http://127.0.0.1:6379'], ['queue', 'status', '--queue', 'redis://127.0.0.1:99999']];
  for (const args of malformed) await refusedInOneLine(args, /^earlyphase: --queue "[^"]+": .*expected redis:\/\/HOST:PORT\[\/DB\]/);
  const first = await run(malformed[0]!);
  assert.equal(first.status, 2, first.err);
  assert.match(first.err, /^earlyphase: --queue "redis\/\/nohost": .*expected redis:\/\/HOST:PORT\[\/DB\]/);
  assert.equal(first.err.trim().split('\n').length, 1, first.err);
  const down = `redis://127.0.0.1:${redis.port + 1 === 65536 ? 1 : redis.port + 1}`;
  const cases = [['sweep', spec, '--queue', down], ['worker', '--queue', down, '--adapter', 'llvmpipe'], ['queue', 'status', '--queue', down]];
  for (const [args, r] of (await Promise.all(cases.map(async (args) => [args, await run(args)] as const)))) {
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.err}`);
    // The sweep is validated (its data read: one `data:` line) before the queue is opened.
    assert.equal(r.err.trim().split('\n').filter((l) => !l.startsWith('data: ')).join('\n'),
      `earlyphase: cannot reach Redis at ${down} (ECONNREFUSED); start it (e.g. redis-server --port ${new URL(down).port}) or fix --queue`);
  }
});

// 3 lotteries (rewind points 0, 5, 10 iterations; 2 levels each) and a branch of each: 6 jobs, 9 runs.
const DIST = {
  flags: ['--dataset-name', 'fashion_mnist', ...FLAGS], levels: '0-1', rewinding_steps: ['0it', '5it', '10it'],
  branches: [{ name: 'randomly_reinitialize', levels: '1-1' }],
};
/** The DIST sweep run locally without --queue (once, by whichever test needs it first): the reference folders. */
let localRoot: Promise<string> | null = null;
function localDist(): Promise<string> {
  return localRoot ??= (async () => {
    const local = join(dir, 'local');
    const l = await run(['sweep', writeSpec('dist-local', DIST), '--root', local, '--adapter', 'llvmpipe', '--quiet']);
    assert.equal(l.status, 0, l.err);
    return local;
  })();
}

test('3 workers, one SIGKILLed mid-job and Redis restarted mid-sweep: the same weights as a local sweep', { timeout: 600_000 }, async (t) => {
  const spec = writeSpec('dist', DIST);
  // The local reference sweep trains meanwhile (the workers wait on one another and on Redis); its hashes are compared at the end.
  const localRun = localDist();
  localRun.catch(() => {}); // awaited below; a failure is reported there
  const shared = join(dir, 'shared');

  const e = await run(['sweep', spec, '--queue', redis.url, '--root', shared]);
  assert.equal(e.status, 0, e.err);
  assert.match(e.err, /6 jobs \(3 lotteries, 3 branches, 0 instability analyses\); added 3, already queued or done 0/);
  const again = await run(['sweep', spec, '--queue', redis.url, '--root', shared]);
  assert.match(again.err, /added 0, already queued or done 3/, 'enqueuing twice added jobs twice');

  const ws = ['w1', 'w2', 'w3'].map((n) => new Worker(n, ['--queue', redis.url, '--root', shared, '--stalled-seconds', '6', '--exit-when-idle'], t));
  workers.push(...ws);
  // Kill the first worker that checkpoints a level in the middle (iteration 20 of 30).
  const victim = await firstOf(ws.map((w) => w.waitFor(/\] (lottery_\w+\/replicate_1\/level_\d): checkpoint at iteration 20\n/).then((m) => ({ w, run: m[1]! }))));
  victim.w.kill();
  const jobId = [...victim.w.log.matchAll(/took (\S+):/g)].at(-1)![1]!;
  const others = ws.filter((w) => w !== victim.w);
  // Restart Redis once another job has finished (the sweep is still going).
  await firstOf(others.map((w) => w.waitFor(/finished /)));
  await redis.restart(2000);
  // The results are ordinary run folders: a report works on them while the sweep runs.
  const mid = await run(['report', shared, '--out', join(dir, 'report-mid')]);
  assert.equal(mid.status, 0, mid.err);
  assert.ok(readFileSync(join(dir, 'report-mid', 'summary.txt'), 'utf8').length > 0);
  const codes = await Promise.all(others.map((w) => w.exited));
  assert.deepEqual(codes, [0, 0], others.map((w) => w.log).join('\n'));

  const s = await status('dist');
  assert.deepEqual([s.done, s.failed, s.total], [6, 0, 6], JSON.stringify(s));
  for (const w of ws) assert.match(w.log, /took dist\./, `worker ${w.name} took no job`);
  // The killed job finished elsewhere, resumed from the checkpoint at iteration 20 (not from 0).
  const successor = others.find((w) => w.log.includes(`took ${jobId}:`));
  assert.ok(successor, `no other worker took ${jobId}`);
  assert.match(successor.log, new RegExp(`${victim.run.replace(/\//g, '\\/')}: resuming at iteration 20`));
  assert.ok(others.some((w) => /Redis at .*\(retrying\)/.test(w.log)), 'no worker saw Redis go away');

  // Same runs, same final weights.
  const a = doneHashes(await localRun), b = doneHashes(shared);
  assert.equal(a.size, 9);
  assert.deepEqual([...b.entries()].sort(), [...a.entries()].sort());
  console.log(`# ${a.size} runs, ${b.size} hashes equal; killed ${victim.w.name} at ${victim.run} iteration 20, resumed by ${successor.name}`);

  // One writer at a time: every lock history alternates acquire → release, or → takeover of the killed worker.
  const logs = lockLogs(shared);
  assert.equal(logs.length, 6);
  let takeovers = 0;
  for (const p of logs) {
    let holder: string | null = null;
    for (const line of readFileSync(p, 'utf8').trim().split('\n')) {
      const m = line.match(/^\S+ \d+ (.+ \(\S+\)) (acquire|release|takeover from (.+ \(\S+\)) \(.*|lost.*)$/)!;
      assert.ok(m, line);
      if (m[2] === 'acquire') { assert.equal(holder, null, `${p}: ${m[1]} acquired while ${holder} held it`); holder = m[1]!; }
      else if (m[2] === 'release') { assert.equal(holder, m[1], `${p}: release by a non-holder`); holder = null; }
      else if (m[2]!.startsWith('takeover')) { assert.equal(m[3], holder); assert.match(holder!, new RegExp(`^worker ${victim.w.name} `)); holder = m[1]!; takeovers++; }
      else assert.fail(`${p}: ${line}`);
    }
    assert.equal(holder, null, `${p}: still held`);
  }
  assert.equal(takeovers, 1);
});

test('a worker with --pack 2 trains its jobs two at a time: the same weights as a local sweep', { timeout: 600_000 }, async (t) => {
  // Another sweep name, so that its jobs are new to the queue; two of DIST's lotteries and their
  // branches: the same runs as the local sweep's (folders are named by hyperparameters).
  const spec = writeSpec('distpack', { ...DIST, rewinding_steps: ['0it', '5it'] });
  const shared = join(dir, 'shared-pack');
  const e = await run(['sweep', spec, '--queue', redis.url, '--root', shared]);
  assert.equal(e.status, 0, e.err);
  assert.match(e.err, /4 jobs \(2 lotteries, 2 branches, 0 instability analyses\); added 2, already queued or done 0/);
  const w = new Worker('packer', ['--queue', redis.url, '--root', shared, '--pack', '2', '--exit-when-idle'], t);
  workers.push(w);
  assert.equal(await w.exited, 0, w.log);

  const s = await status('distpack');
  assert.deepEqual([s.done, s.failed, s.total], [4, 0, 4], JSON.stringify(s));
  const took = [...w.log.matchAll(/took (distpack\.\S+):/g)].map((m) => m[1]);
  assert.equal(new Set(took).size, 4, w.log);
  assert.equal([...w.log.matchAll(/finished distpack\./g)].length, 4, w.log);
  // The first batch: the two lotteries, waiting together when the worker started.
  assert.match(w.log, /training distpack\.lottery\.\w+, distpack\.lottery\.\w+ together \(up to 2 networks per pack\)/);
  const a = doneHashes(await localDist()), b = doneHashes(shared);
  assert.equal(a.size, 9);
  assert.equal(b.size, 6);
  for (const [run, hash] of b) assert.equal(hash, a.get(run), `${run}: packed on the worker vs the local sweep`);
  console.log(`# --pack 2: ${[...w.log.matchAll(/training .* together/g)].length} batches of two; ${b.size} hashes equal the local sweep's`);
});

test('bad flags fail at once, data missing on one worker is handed back and run elsewhere, SIGTERM hands the job back', { timeout: 400_000 }, async (t) => {
  const data = join(dir, 'data'), empty = join(dir, 'empty');
  mkdirSync(join(data, 'mnist'), { recursive: true });
  mkdirSync(empty);
  for (const f of readdirSync('/usr/share/datasets/fashion-mnist')) symlinkSync(join('/usr/share/datasets/fashion-mnist', f), join(data, 'mnist', f));
  const shared = join(dir, 'shared2');
  const spec = writeSpec('mdata', { flags: ['--dataset-name', 'mnist', ...FLAGS], levels: '0', rewinding_steps: ['0it'] });
  const e = await run(['sweep', spec, '--queue', redis.url, '--root', shared]);
  assert.equal(e.status, 0, e.err);
  assert.match(e.err, /the data is not on this machine, so iteration counts are checked by the workers/);
  // A job whose flags no longer parse (enqueued by another version, or edited by hand).
  const badSpec = writeSpec('mdata', { flags: ['--dataset-name', 'mnist', ...FLAGS, '--no-such-flag', '1'], levels: '0', rewinding_steps: ['0it'] });
  const { Queue } = await import('bullmq');
  const q = new Queue('earlyphase', { connection: { host: '127.0.0.1', port: redis.port } });
  try {
    await q.add('mdata: lottery', { sweep: 'mdata', spec: JSON.parse(readFileSync(badSpec, 'utf8')), key: 'badflags', kind: 'lottery', label: 'bad flags', trunk: 'none' },
      { jobId: 'mdata.lottery.badflags', attempts: 4, backoff: { type: 'fixed', delay: 100 } });
  } finally {
    await q.close();
  }

  // Without the data, the worker hands the job back (it is taken again at once) and stops.
  const nodata = new Worker('nodata', ['--queue', redis.url, '--root', shared, '--data-dir', empty], t);
  workers.push(nodata);
  await nodata.waitFor(/mdata\.lottery\.\w+ cannot run here: dataset "mnist" not found .*; handed back to the queue \(no attempt used\)/);
  assert.equal(await nodata.exited, 3, nodata.log);
  assert.match(nodata.log, /2 jobs in a row cannot run on this worker \(dataset "mnist" not found .*exit code 3/);

  // A worker with the data takes the job; SIGTERM in the middle hands it back with its checkpoint.
  const first = new Worker('hasdata1', ['--queue', redis.url, '--root', shared, '--data-dir', data], t);
  workers.push(first);
  await first.waitFor(/level_0: checkpoint at iteration 10\n/);
  first.terminate();
  assert.equal(await first.exited, 0, first.log);
  assert.match(first.log, /handing mdata\.lottery\.\w+ back to the queue/);
  const second = new Worker('hasdata2', ['--queue', redis.url, '--root', shared, '--data-dir', data, '--exit-when-idle'], t);
  workers.push(second);
  assert.equal(await second.exited, 0, second.log);
  assert.match(second.log, /level_0: resuming at iteration (10|20)/);

  const s = await status('mdata');
  assert.equal(s.done, 1, JSON.stringify(s));
  assert.equal(s.failures.length, 1);
  assert.equal(s.failures[0].attempts, 1, 'a job with bad flags was retried');
  assert.match(s.failures[0].error, /unknown argument --no-such-flag/);
  const text = await run(['queue', 'status', '--queue', redis.url, 'mdata']);
  assert.match(text.out, /failed bad flags \(mdata\.lottery\.badflags, 1 attempt\): sweep spec: flags: unknown argument --no-such-flag 1/);
  assert.match((await run(['queue', 'retry', '--queue', redis.url, 'mdata'])).out, /retrying 1 failed job/);
  assert.match((await run(['queue', 'clean', '--queue', redis.url, 'mdata', '--all'])).out, /removed 2 jobs/);
});
