// The producer side of the job queue: `earlyphase sweep … --queue URL` (enqueue, optionally
// follow) and `earlyphase queue status|retry|clean`. Everything here talks to Redis through
// BullMQ's Queue; nothing runs on the GPU. What Redis holds is read as untrusted input
// (runner/sweep/queue/job-data.ts): a job whose data is unusable is listed as malformed, never a crash.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Job, Queue } from 'bullmq';
import { UserError } from '../../src/errors.ts';
import { planLottery } from '../../src/lottery/lottery.ts';
import type { SweepSpec } from '../../src/lottery/sweep.ts';
import { DatasetNotFoundError } from '../data/datasets.ts';
import { datasetCache, jobData } from '../sweep/sweep-job.ts';
import { QUEUE_NAME, checkReachable, connectionOptions, loadBullmq, parseQueueUrl } from '../sweep/queue/connection.ts';
import { enqueueSweep, queueEntries, type QueueEntry } from '../sweep/queue/jobs.ts';
import type { QueueJobData } from '../sweep/queue/job-data.ts';
import { jobProblem, sweepOf, untrustedJobClasses } from '../sweep/queue/job-data.ts';

async function openQueue(url: string): Promise<Queue> {
  const target = parseQueueUrl(url);
  await checkReachable(target);
  const { Queue } = untrustedJobClasses(await loadBullmq());
  const q = new Queue(QUEUE_NAME, { connection: { ...connectionOptions(target), maxRetriesPerRequest: 3 } });
  q.on('error', () => {});
  return q;
}

/** Ids that `queue clean` removed (a Redis hash beside the queue: id → when), so that status does not report them as lost. */
const cleanedKey = (queue: Queue) => queue.toKey('earlyphase-cleaned');

const shellWord = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

/** The command that enqueues this sweep again, with absolute paths (shown by `queue status` when jobs were lost). */
export function enqueueCommandLine(o: { spec?: string; setup?: string; replicates?: string; levels?: string; trainingSteps?: string; queue: string; root: string; dataDir?: string }, name: string): string {
  const file = o.spec !== undefined && existsSync(o.spec);
  const args = ['earlyphase', 'sweep', file ? resolve(o.spec!) : o.spec ?? name];
  if (!file && o.setup) args.push('--setup', o.setup);
  if (o.replicates) args.push('--replicates', o.replicates);
  if (o.levels) args.push('--levels', o.levels);
  if (o.trainingSteps) args.push('--training-steps', o.trainingSteps);
  args.push('--queue', o.queue, '--root', resolve(o.root));
  if (o.dataDir) args.push('--data-dir', resolve(o.dataDir));
  return args.map(shellWord).join(' ');
}

/** Validates the sweep as a local run would (plans need the data: skipped, with a note, where it is absent) and adds its jobs. */
export async function enqueueCommand(o: { queue: string; dataDir?: string; follow?: boolean; root: string; spec?: string; setup?: string; replicates?: string; levels?: string; trainingSteps?: string }, spec: SweepSpec): Promise<void> {
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
    const r = await enqueueSweep(queue, spec, enqueueCommandLine(o, spec.name));
    const kinds = (k: string) => entries.filter((e) => e.job.kind === k).length;
    console.error(`sweep ${spec.name}: ${r.total} jobs (${kinds('lottery')} lotteries, ${kinds('branch')} branches, ${kinds('instability')} instability analyses); ` +
      `added ${r.added}, already queued or done ${r.present}; branches and instability analyses are added when their trunk's lottery completes`);
    console.error(`workers: earlyphase worker --queue ${o.queue} --root ${o.root}   watch: earlyphase queue status --queue ${o.queue} ${spec.name}`);
    if (o.follow) await follow(queue, spec.name, o.queue);
  } finally {
    await queue.close();
  }
}

interface SweepStatus {
  sweep: string; total: number; done: number; failed: number; waiting: number;
  /** Not in the queue, waiting for a trunk job that is (after their trunk: not yet runnable). */
  pending: number;
  /**
   * Not in the queue and nothing will add them: a lottery job that is gone, or a dependent whose
   * trunk job is gone or completed without it (a trunk adds its dependents before it completes).
   * Redis lost them (a restart without persistence): only enqueueing the sweep again runs them.
   */
  lost: number;
  /** Removed by `queue clean` (not lost). */
  cleaned: number;
  /** The command that enqueues the sweep again (finished runs are skipped). */
  requeue: string;
  running: { id: string; label: string; worker: string | null; progress: unknown; seconds: number }[];
  failures: { id: string; label: string; attempts: number; error: string }[];
  etaSeconds: number | null;
}

/** A job whose data earlyphase cannot use (jobProblem): shown, failed by workers, removed by clean. */
interface MalformedJob { id: string; sweep: string; state: string; attempts: number; problem: string }

export interface QueueStatus { sweeps: SweepStatus[]; malformed: MalformedJob[] }

const STATES = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'paused', 'completed', 'failed'] as const;

/** The first of the sweep's specs that expands (a job enqueued by another version may carry one that does not). */
function sweepEntries(jobs: Job<QueueJobData>[]): QueueEntry[] {
  for (const j of jobs) { try { return queueEntries(j.data.spec); } catch { /* the next job's */ } }
  return [];
}

export async function sweepStatus(queue: Queue, only?: string, url = '<the queue URL>'): Promise<QueueStatus> {
  const jobs = ((await queue.getJobs([...STATES], 0, -1)) as Job<QueueJobData>[]).filter((j) => j && (!only || sweepOf(j) === only));
  const states = await Promise.all(jobs.map((j) => j.getState()));
  const cleaned = new Set(Object.keys(await (await queue.client).hgetall(cleanedKey(queue))));
  const malformed: MalformedJob[] = [];
  const bySweep = new Map<string, [Job<QueueJobData>, string][]>();
  jobs.forEach((j, i) => {
    const problem = jobProblem(j);
    if (problem) { malformed.push({ id: j.id!, sweep: sweepOf(j), state: states[i]!, attempts: j.attemptsMade, problem }); return; }
    bySweep.set(j.data.sweep, [...(bySweep.get(j.data.sweep) ?? []), [j, states[i]!]]);
  });
  if (only && !bySweep.size && !malformed.length) throw new UserError(`no sweep "${only}" in the queue (earlyphase queue status lists the sweeps it holds)`);
  const now = Date.now();
  const sweeps = [...bySweep.entries()].map(([sweep, js]): SweepStatus => {
    const of = (st: string) => js.filter(([, x]) => x === st).map(([j]) => j);
    const completed = of('completed');
    const running = of('active');
    const entries = sweepEntries(js.map(([j]) => j));
    const stateOf = new Map(js.map(([j, st]) => [j.id!, st]));
    // Jobs of the sweep that are not in the queue: cleaned, waiting for their trunk, or lost.
    let pending = 0, lost = 0, gone = 0;
    for (const e of entries) {
      if (stateOf.has(e.id)) continue;
      if (cleaned.has(e.id)) { gone++; continue; }
      const trunk = e.job.kind === 'lottery' ? null : entries.find((t) => t.job.kind === 'lottery' && t.data.trunk === e.data.trunk);
      const trunkState = trunk ? stateOf.get(trunk.id) ?? (cleaned.has(trunk.id) ? 'cleaned' : undefined) : undefined;
      if (trunkState !== undefined && trunkState !== 'completed') pending++;
      else lost++;
    }
    // Mean time of a finished job × what is left, spread over the jobs running now.
    const times = completed.filter((j) => j.processedOn && j.finishedOn).map((j) => j.finishedOn! - j.processedOn!);
    const total = entries.length || js.length;
    const left = Math.max(0, total - completed.length - of('failed').length - lost - gone);
    const mean = times.length ? times.reduce((a, b) => a + b, 0) / times.length : null;
    return {
      sweep, total, done: completed.length, failed: of('failed').length,
      waiting: of('waiting').length + of('delayed').length + of('prioritized').length + of('paused').length,
      pending, lost, cleaned: gone,
      requeue: js.map(([j]) => j.data.command).find((c) => typeof c === 'string') ?? `earlyphase sweep <the spec file or preset of ${sweep}> --queue ${url} --root <the runs root>`,
      running: running.map((j) => ({ id: j.id!, label: j.data.label, worker: j.processedBy ?? null, progress: j.progress, seconds: j.processedOn ? (now - j.processedOn) / 1000 : 0 })),
      failures: of('failed').map((j) => ({ id: j.id!, label: j.data.label, attempts: j.attemptsMade, error: j.failedReason })),
      etaSeconds: mean === null ? null : (mean * left) / 1000 / Math.max(1, running.length),
    };
  });
  return { sweeps, malformed };
}

function formatStatus(s: SweepStatus): string {
  const lines = [`sweep ${s.sweep}: ${s.done}/${s.total} done (${((100 * s.done) / s.total).toFixed(0)}%), ${s.running.length} running, ${s.waiting} waiting, ` +
    `${s.failed} failed, ${s.pending} not yet runnable (after their trunk)` + (s.lost ? `, ${s.lost} lost` : '') + (s.cleaned ? `, ${s.cleaned} removed by queue clean` : '') +
    (s.etaSeconds === null || s.lost ? '' : `; ETA ${Math.round(s.etaSeconds)} s`)];
  if (s.lost) {
    lines.push(`  ${s.lost} job${s.lost === 1 ? ' is' : 's are'} missing from the queue and nothing will add ${s.lost === 1 ? 'it' : 'them'} (${s.lost === 1 ? 'its' : 'their'} trunk's job is gone, or finished without ${s.lost === 1 ? 'it' : 'them'}): ` +
      `Redis lost its data (restarted without persistence?), so nothing will run ${s.lost === 1 ? 'it' : 'them'}. Enqueue the sweep again (finished runs are skipped): ${s.requeue}`);
  }
  for (const r of s.running) {
    const p = r.progress as { run?: string; iteration?: number; total?: number | null } | number;
    const where = typeof p === 'object' && p?.run ? ` at ${p.run} iteration ${p.iteration}${p.total ? `/${p.total}` : ''}` : '';
    lines.push(`  running ${r.label} on ${r.worker ?? '?'} for ${Math.round(r.seconds)} s${where}`);
  }
  for (const f of s.failures) lines.push(`  failed ${f.label} (${f.id}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}): ${f.error}`);
  return lines.join('\n');
}

function formatMalformed(m: MalformedJob): string {
  const what = m.state === 'failed' ? 'failed' : m.state === 'active' ? 'active: a worker is failing it' : `${m.state}: a worker fails it at once`;
  return `malformed job ${m.id} (${what}): ${m.problem}; earlyphase queue clean${m.sweep ? ` ${m.sweep}` : ''} removes it`;
}

export async function statusCommand(o: { queue: string; sweep?: string; json?: boolean }): Promise<void> {
  const queue = await openQueue(o.queue);
  try {
    const all = await sweepStatus(queue, o.sweep, o.queue);
    const workers = await queue.getWorkers();
    if (o.json) { console.log(JSON.stringify({ workers: workers.length, ...all }, null, 2)); return; }
    console.log(`queue ${o.queue}: ${workers.length} worker${workers.length === 1 ? '' : 's'} connected`);
    if (!all.sweeps.length && !all.malformed.length) console.log('no sweeps queued');
    for (const s of all.sweeps) console.log(formatStatus(s));
    for (const m of all.malformed) console.log(formatMalformed(m));
  } finally {
    await queue.close();
  }
}

/** Puts failed jobs (of one sweep, or all) back in the queue with their attempts reset; malformed ones would only fail again. */
export async function retryCommand(o: { queue: string; sweep?: string }): Promise<void> {
  const queue = await openQueue(o.queue);
  try {
    const failed = ((await queue.getFailed(0, -1)) as Job<QueueJobData>[]).filter((j) => j && (!o.sweep || sweepOf(j) === o.sweep));
    const usable = failed.filter((j) => !jobProblem(j));
    for (const j of usable) await j.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    const skipped = failed.length - usable.length;
    console.log(`retrying ${usable.length} failed job${usable.length === 1 ? '' : 's'}` +
      (skipped ? `; skipped ${skipped} malformed job${skipped === 1 ? '' : 's'} (data earlyphase cannot run; earlyphase queue clean removes them)` : ''));
  } finally {
    await queue.close();
  }
}

/**
 * Removes finished (completed and failed) jobs; `all` also removes waiting ones; malformed jobs go
 * in any state but active (a worker holds those: it fails them at once). The run folders stay.
 */
export async function cleanCommand(o: { queue: string; sweep?: string; all?: boolean }): Promise<void> {
  const queue = await openQueue(o.queue);
  try {
    const states = o.all ? ['completed', 'failed', 'waiting', 'delayed', 'prioritized', 'paused', 'waiting-children'] as const : ['completed', 'failed'] as const;
    const ofSweep = (j: Job<QueueJobData>) => j && (!o.sweep || sweepOf(j) === o.sweep);
    const jobs = ((await queue.getJobs([...states], 0, -1)) as Job<QueueJobData>[]).filter(ofSweep);
    const ids = new Set(jobs.map((j) => j.id));
    const malformed = ((await queue.getJobs([...STATES].filter((s) => s !== 'active'), 0, -1)) as Job<QueueJobData>[]).filter((j) => ofSweep(j) && jobProblem(j) && !ids.has(j.id));
    const removed = [...jobs, ...malformed];
    // Recorded first: status must not take a job that clean removed for one that Redis lost.
    if (removed.length) await (await queue.client).hset(cleanedKey(queue), Object.fromEntries(removed.map((j) => [j.id!, Date.now()])));
    for (const j of removed) await j.remove();
    const bad = removed.filter((j) => jobProblem(j)).length;
    console.log(`removed ${removed.length} job${removed.length === 1 ? '' : 's'} from the queue${bad ? ` (${bad} malformed)` : ''} (run folders are untouched)`);
  } finally {
    await queue.close();
  }
}

/** Prints the sweep's status whenever it changes (checked every 2 s) until every job has finished. */
async function follow(queue: Queue, sweep: string, url: string): Promise<void> {
  let last = '';
  for (;;) {
    const [s] = (await sweepStatus(queue, sweep, url)).sweeps;
    if (!s) { console.log(`sweep ${sweep}: none of its jobs is in the queue any more (removed, or Redis lost them)`); process.exitCode = 1; return; }
    const text = formatStatus(s!);
    if (text !== last) { console.error(text); last = text; }
    if (s!.done + s!.failed === s!.total) {
      console.log(`sweep ${sweep}: ${s!.done} done, ${s!.failed} failed`);
      if (s!.failed) process.exitCode = 1;
      return;
    }
    if (s!.running.length === 0 && s!.waiting === 0 && s!.lost) {
      console.log(`sweep ${sweep}: ${s!.lost} job(s) were lost from the queue; enqueue the sweep again: ${s!.requeue}`);
      process.exitCode = 1;
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
