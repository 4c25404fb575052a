// The producer side of the job queue: `earlyphase sweep … --queue URL` (enqueue, optionally
// follow) and `earlyphase queue status|retry|clean`. Everything here talks to Redis through
// BullMQ's Queue; nothing runs on the GPU.
import type { Job, Queue } from 'bullmq';
import { UserError } from '../src/errors.ts';
import { planLottery } from '../src/lottery/lottery.ts';
import type { SweepSpec } from '../src/lottery/sweep.ts';
import { DatasetNotFoundError } from './datasets.ts';
import { datasetCache, jobData } from './sweep-job.ts';
import { QUEUE_NAME, checkReachable, connectionOptions, loadBullmq, parseQueueUrl } from './queue/connection.ts';
import { enqueueSweep, queueEntries, type QueueJobData } from './queue/jobs.ts';

async function openQueue(url: string): Promise<Queue> {
  const target = parseQueueUrl(url);
  await checkReachable(target);
  const { Queue } = await loadBullmq();
  const q = new Queue(QUEUE_NAME, { connection: { ...connectionOptions(target), maxRetriesPerRequest: 3 } });
  q.on('error', () => {});
  return q;
}

/** Validates the sweep as a local run would (plans need the data: skipped, with a note, where it is absent) and adds its jobs. */
export async function enqueueCommand(o: { queue: string; dataDir?: string; follow?: boolean; root: string }, spec: SweepSpec): Promise<void> {
  const entries = queueEntries(spec);
  parseQueueUrl(o.queue);
  const env = { data: datasetCache(o.dataDir) };
  try {
    for (const { job } of entries) { const d = await jobData(env, job); planLottery({ ...job, maxLevel: job.kind === 'lottery' ? job.maxLevel : 0 }, d.data, d.pretrainData); }
  } catch (e) {
    if (!(e instanceof DatasetNotFoundError)) throw e;
    console.error(`sweep ${spec.name}: the data is not on this machine, so iteration counts are checked by the workers (${e.message.split(';')[0]})`);
  }
  const queue = await openQueue(o.queue);
  try {
    const r = await enqueueSweep(queue, spec);
    const kinds = (k: string) => entries.filter((e) => e.job.kind === k).length;
    console.error(`sweep ${spec.name}: ${r.total} jobs (${kinds('lottery')} lotteries, ${kinds('branch')} branches, ${kinds('instability')} instability analyses); ` +
      `added ${r.added}, already queued or done ${r.present}; branches and instability analyses are added when their trunk's lottery completes`);
    console.error(`workers: earlyphase worker --queue ${o.queue} --root ${o.root}   watch: earlyphase queue status --queue ${o.queue} ${spec.name}`);
    if (o.follow) await follow(queue, spec.name);
  } finally {
    await queue.close();
  }
}

interface SweepStatus {
  sweep: string; total: number; done: number; failed: number; waiting: number;
  running: { id: string; label: string; worker: string | null; progress: unknown; seconds: number }[];
  failures: { id: string; label: string; attempts: number; error: string }[];
  etaSeconds: number | null;
}

const STATES = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'paused', 'completed', 'failed'] as const;

export async function sweepStatus(queue: Queue, only?: string): Promise<SweepStatus[]> {
  const jobs = (await queue.getJobs([...STATES], 0, -1)) as Job<QueueJobData>[];
  const states = await Promise.all(jobs.map((j) => j.getState()));
  const bySweep = new Map<string, { spec: SweepSpec; jobs: [Job<QueueJobData>, string][] }>();
  jobs.forEach((j, i) => {
    if (!j?.data?.sweep || (only && j.data.sweep !== only)) return;
    const s = bySweep.get(j.data.sweep) ?? { spec: j.data.spec, jobs: [] };
    s.jobs.push([j, states[i]!]);
    bySweep.set(j.data.sweep, s);
  });
  if (only && !bySweep.size) throw new UserError(`no sweep "${only}" in the queue (earlyphase queue status lists the sweeps it holds)`);
  const now = Date.now();
  return [...bySweep.entries()].map(([sweep, s]) => {
    const of = (st: string) => s.jobs.filter(([, x]) => x === st).map(([j]) => j);
    const completed = of('completed');
    const running = of('active');
    // Mean time of a finished job × what is left, spread over the jobs running now.
    const times = completed.filter((j) => j.processedOn && j.finishedOn).map((j) => j.finishedOn! - j.processedOn!);
    const total = queueEntries(s.spec).length;
    const left = total - completed.length - of('failed').length;
    const mean = times.length ? times.reduce((a, b) => a + b, 0) / times.length : null;
    return {
      sweep, total, done: completed.length, failed: of('failed').length,
      waiting: of('waiting').length + of('delayed').length + of('prioritized').length + of('paused').length,
      running: running.map((j) => ({ id: j.id!, label: j.data.label, worker: j.processedBy ?? null, progress: j.progress, seconds: j.processedOn ? (now - j.processedOn) / 1000 : 0 })),
      failures: of('failed').map((j) => ({ id: j.id!, label: j.data.label, attempts: j.attemptsMade, error: j.failedReason })),
      etaSeconds: mean === null ? null : (mean * left) / 1000 / Math.max(1, running.length),
    };
  });
}

function formatStatus(s: SweepStatus): string {
  const lines = [`sweep ${s.sweep}: ${s.done}/${s.total} done (${((100 * s.done) / s.total).toFixed(0)}%), ${s.running.length} running, ${s.waiting} waiting, ` +
    `${s.failed} failed, ${s.total - s.done - s.failed - s.running.length - s.waiting} not yet runnable (after their trunk)` +
    (s.etaSeconds === null ? '' : `; ETA ${Math.round(s.etaSeconds)} s`)];
  for (const r of s.running) {
    const p = r.progress as { run?: string; iteration?: number; total?: number | null } | number;
    const where = typeof p === 'object' && p?.run ? ` at ${p.run} iteration ${p.iteration}${p.total ? `/${p.total}` : ''}` : '';
    lines.push(`  running ${r.label} on ${r.worker ?? '?'} for ${Math.round(r.seconds)} s${where}`);
  }
  for (const f of s.failures) lines.push(`  failed ${f.label} (${f.id}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}): ${f.error}`);
  return lines.join('\n');
}

export async function statusCommand(o: { queue: string; sweep?: string; json?: boolean }): Promise<void> {
  const queue = await openQueue(o.queue);
  try {
    const all = await sweepStatus(queue, o.sweep);
    const workers = await queue.getWorkers();
    if (o.json) { console.log(JSON.stringify({ workers: workers.length, sweeps: all }, null, 2)); return; }
    console.log(`queue ${o.queue}: ${workers.length} worker${workers.length === 1 ? '' : 's'} connected`);
    if (!all.length) console.log('no sweeps queued');
    for (const s of all) console.log(formatStatus(s));
  } finally {
    await queue.close();
  }
}

/** Puts failed jobs (of one sweep, or all) back in the queue with their attempts reset. */
export async function retryCommand(o: { queue: string; sweep?: string }): Promise<void> {
  const queue = await openQueue(o.queue);
  try {
    const failed = ((await queue.getFailed(0, -1)) as Job<QueueJobData>[]).filter((j) => !o.sweep || j.data?.sweep === o.sweep);
    for (const j of failed) await j.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    console.log(`retrying ${failed.length} failed job${failed.length === 1 ? '' : 's'}`);
  } finally {
    await queue.close();
  }
}

/** Removes finished (completed and failed) jobs; `all` also removes waiting ones. The run folders stay. */
export async function cleanCommand(o: { queue: string; sweep?: string; all?: boolean }): Promise<void> {
  const queue = await openQueue(o.queue);
  try {
    const states = o.all ? ['completed', 'failed', 'waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const : ['completed', 'failed'] as const;
    const jobs = ((await queue.getJobs([...states], 0, -1)) as Job<QueueJobData>[]).filter((j) => j && (!o.sweep || j.data?.sweep === o.sweep));
    for (const j of jobs) await j.remove();
    console.log(`removed ${jobs.length} job${jobs.length === 1 ? '' : 's'} from the queue (run folders are untouched)`);
  } finally {
    await queue.close();
  }
}

/** Prints the sweep's status whenever it changes (checked every 2 s) until every job has finished. */
async function follow(queue: Queue, sweep: string): Promise<void> {
  let last = '';
  for (;;) {
    const [s] = await sweepStatus(queue, sweep);
    const text = formatStatus(s!);
    if (text !== last) { console.error(text); last = text; }
    if (s!.done + s!.failed === s!.total) {
      console.log(`sweep ${sweep}: ${s!.done} done, ${s!.failed} failed`);
      if (s!.failed) process.exitCode = 1;
      return;
    }
    if (s!.running.length === 0 && s!.waiting === 0 && s!.failed && s!.done + s!.failed < s!.total) {
      // A failed trunk: its dependents will never be added until it is retried.
      console.log(`sweep ${sweep}: stuck behind ${s!.failed} failed job(s); fix them and run earlyphase queue retry`);
      process.exitCode = 1;
      return;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
