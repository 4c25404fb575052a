// `earlyphase worker --queue redis://… --root DIR`: one per GPU, on any number of machines sharing
// DIR. A BullMQ Worker takes sweep jobs one at a time and runs each through the local sweep's
// driver (runner/sweep-job.ts); with --pack K it takes up to K at a time and trains them together
// as a packed local sweep does (runSweepJobsPacked), each job still completed, retried, failed or
// handed back on its own. Retries, backoff, stalled-job detection (a worker killed or a
// machine lost: its lock in Redis expires and the job goes back to the queue) and reconnecting to
// Redis are BullMQ's; what is ours is sorting errors into "retry" and "do not retry", reporting
// progress, adding a trunk's dependents when it completes, and handing the job back on SIGTERM.
// Jobs are untrusted input: one whose data does not parse or is not a sweep job fails at once with
// a one-line reason (runner/queue/job-data.ts). A worker that cannot run jobs here (its data is
// missing on consecutive jobs) hands them back and exits with EXIT_CANNOT_RUN_HERE.
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import { UserError } from '../src/errors.ts';
import { RunControl, RunStoppedError } from '../src/train/control.ts';
import type { EventSink, TrainEvent } from '../src/train/events.ts';
import type { SweepJob } from '../src/lottery/sweep.ts';
import { planLottery } from '../src/lottery/lottery.ts';
import type { ModelSpec } from '../src/nn/graph.ts';
import { openGpu } from './dawn.ts';
import { FsStorage } from './fs-storage.ts';
import { terminalSink } from './progress.ts';
import { runSweepJob, runSweepJobsPacked, datasetCache, jobData, trunkFolder, type JobOutcome, type PackedJobOutcome } from './sweep-job.ts';
import { parsePack, resolvePack } from './pack-size.ts';
import { QUEUE_NAME, checkReachable, connectionOptions, loadBullmq, parseQueueUrl } from './queue/connection.ts';
import { addDependents, queueEntries, type QueueJobData } from './queue/jobs.ts';
import { EXIT_CANNOT_RUN_HERE, OWN_FAILURES_TO_STOP, failureAction } from './queue/failures.ts';
import { jobProblem, untrustedJobClasses } from './queue/job-data.ts';

export interface WorkerCommand {
  queue: string; root: string; adapter?: string; dataDir?: string; name?: string;
  /** Seconds without a lock renewal after which BullMQ considers a job stalled (its worker dead). */
  stalledSeconds: number;
  exitWhenIdle?: boolean; quiet?: boolean;
  /** --pack K|auto: jobs taken at a time and trained together (1: one at a time). */
  pack?: string;
}

/**
 * How long a packing worker waits for more jobs after the first of a batch arrives (or the
 * previous batch ends). Jobs already waiting arrive within milliseconds; this only delays a batch
 * that the queue cannot fill, by far less than a training run.
 */
const GATHER_MS = 1000;

/**
 * Whether a training event's run is one of this job's (the run names of src/lottery:
 * `<trunk>/level_L` or `<trunk>/pretrain` for a lottery, `<trunk>/level_L/<branch>`,
 * `<trunk>/level_L/instability copy N`): a batch shares one event sink, progress is per job.
 */
function ownsRun(j: SweepJob, run: string): boolean {
  const t = trunkFolder(j);
  if (!run.startsWith(`${t}/`)) return false;
  const [first, second] = run.slice(t.length + 1).split('/');
  if (j.kind === 'lottery') return second === undefined;
  if (j.kind === 'branch') return second === j.branch && j.levels.some((l) => first === `level_${l}`);
  return first === `level_${j.level}` && !!second?.startsWith('instability copy');
}

export async function runWorker(o: WorkerCommand): Promise<void> {
  const pack = o.pack ? parsePack(o.pack) : 1;
  const target = parseQueueUrl(o.queue);
  await checkReachable(target);
  const bullmq = await loadBullmq();
  const { UnrecoverableError, WaitingError } = bullmq;
  const { Worker, Queue } = untrustedJobClasses(bullmq);
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const log = (s: string) => process.stderr.write(`[worker ${name}] ${s}\n`);
  const storage = new FsStorage(o.root);
  const data = datasetCache(o.dataDir);
  const gpu = await openGpu(o.adapter);
  const connection = connectionOptions(target);
  const queue = new Queue(QUEUE_NAME, { connection });
  let current: RunControl | null = null;
  let stopping = false;
  let lastEnd = 0;
  /** Jobs handed back in a row because this worker cannot run them (failureAction 'own'); a job it runs or fails otherwise resets it. */
  let ownFailures = 0;
  const terminal = terminalSink({ quiet: o.quiet });

  /** The job's own entry in its sweep spec, expanded here exactly as the enqueuing machine did. */
  const sweepJobOf = (job: Job<QueueJobData>): SweepJob => {
    let entries;
    try { entries = queueEntries(job.data.spec); } catch (e) {
      // A spec that does not expand fails the job, whatever it throws: it came from outside.
      if (e instanceof UserError) throw e;
      throw new UserError(`job ${job.id}: its sweep spec does not expand (${(e as Error).message})`);
    }
    const entry = entries.find((e) => e.data.key === job.data.key);
    if (!entry) throw new UserError(`job ${job.id}: its sweep spec has no job with key ${job.data.key} (enqueued by another earlyphase version?)`);
    return entry.job;
  };
  const logTook = (job: Job<QueueJobData>) => {
    // The queue's own overhead as this worker sees it: from the end of its last job to this start.
    const gap = lastEnd ? `, ${Date.now() - lastEnd} ms after the previous job` : '';
    log(`took ${job.id}: ${job.data.kind} ${job.data.label} (attempt ${job.attemptsMade + 1}${gap})`);
  };
  const logEvent = (e: TrainEvent) => {
    terminal(e);
    if (e.type === 'checkpoint' || e.type === 'start') log(`${e.run}: ${e.type === 'start' ? (e.resumed ? 'resuming at' : 'starting at') : 'checkpoint at'} iteration ${e.type === 'start' ? e.startIteration : e.iteration}`);
  };
  /** Reports a job's progress to the queue (for `queue status`), at most every 2 s. */
  const progressOf = (job: Job<QueueJobData>) => {
    let lastProgress = 0;
    return (e: TrainEvent) => {
      if ((e.type === 'step' || e.type === 'checkpoint') && Date.now() - lastProgress > 2000) {
        lastProgress = Date.now();
        void job.updateProgress({ run: e.run, iteration: e.iteration, total: e.type === 'step' ? e.totalIterations : null }).catch(() => {});
      }
    };
  };
  /** A job that ran to the end: its trunk's dependents are queued before it counts as complete. */
  const completed = async (job: Job<QueueJobData>, r: JobOutcome, t0: number) => {
    if (job.data.kind === 'lottery') await addDependents(queue, job.data.spec, job.data.trunk, job.data.command);
    ownFailures = 0;
    log(`finished ${job.id} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 'rows' in r ? { rows: r.rows.map(({ level, weightsHash, testAccuracy, dir }) => ({ level, weightsHash, testAccuracy, dir })) } : r;
  };
  /** A job that threw: handed back, failed for good, or retried (failureAction decides). */
  const failed = async (job: Job<QueueJobData>, token: string | undefined, e: unknown): Promise<never> => {
    const action = failureAction(e, stopping);
    const msg = (e as Error).message;
    if (action === 'hand-back' && token) {
      log(`handing ${job.id} back to the queue (its folder keeps the last checkpoint)`);
      await job.moveToWait(token);
      throw new WaitingError();
    }
    if (action === 'own' && token) {
      // Not the job's fault: another worker (or this one, fixed) runs it; no attempt is used.
      ownFailures++;
      const why = msg.split('\n')[0]!.replace(/\.$/, '');
      log(`${job.id} cannot run here: ${why}; handed back to the queue (no attempt used)`);
      await job.moveToWait(token);
      if (ownFailures >= OWN_FAILURES_TO_STOP) {
        setImmediate(() => {
          process.exitCode = EXIT_CANNOT_RUN_HERE;
          void shutdown(`${ownFailures} jobs in a row cannot run on this worker (${why}); it stops taking jobs, and they stay queued ` +
            `for a worker that can run them. Fix this worker (--data-dir, or earlyphase data fetch) and start it again; exit code ${EXIT_CANNOT_RUN_HERE}`);
        });
      }
      throw new WaitingError();
    }
    ownFailures = 0;
    log(`${job.id} failed: ${msg}${action === 'fail' ? ' (not retried)' : ''}`);
    if (action === 'fail') throw new UnrecoverableError(msg);
    if (action === 'retry-and-exit') setImmediate(() => { process.exitCode = EXIT_CANNOT_RUN_HERE; void shutdown('the GPU is unusable'); });
    // Named after this worker: the data or device may be fine on another one.
    throw new Error(`on worker ${name}: ${msg}`);
  };

  const processOne = async (job: Job<QueueJobData>, token?: string) => {
    // Taken while the worker was being stopped (BullMQ may hand out one more job): back untouched.
    if (stopping) return failed(job, token, new RunStoppedError('the worker is stopping'));
    const t0 = Date.now();
    logTook(job);
    const control = current = new RunControl();
    const progress = progressOf(job);
    const sink: EventSink = (e) => { logEvent(e); progress(e); };
    try {
      const r = await runSweepJob({ gpu, storage, sink, data }, sweepJobOf(job), { owner: `worker ${name}`, control, log });
      return await completed(job, r, t0);
    } catch (e) {
      return await failed(job, token, e);
    } finally {
      current = null;
      lastEnd = Date.now();
    }
  };

  // --pack: every processor call (BullMQ runs up to K at once) leaves its job here and waits for
  // the batch that trains it; one batch trains at a time.
  interface Taken { job: Job<QueueJobData>; token?: string; resolve: (outcome: Promise<unknown>) => void; settled?: boolean }
  const gathered: Taken[] = [];
  /** Ends a job's processor call with `outcome` (completed, or failed as failureAction says), once. */
  const settle = (t: Taken, outcome: () => Promise<unknown>) => {
    if (t.settled) return;
    t.settled = true;
    t.resolve(outcome());
  };
  let gatherTimer: NodeJS.Timeout | null = null;
  let batchRunning = false;
  let autoK = 0;
  /** --pack auto for a job of `spec` at `batch`: resolvePack's choice, said when it changes (not every batch). */
  const sizeAuto = (spec: ModelSpec, batch: number) => {
    let line = '';
    const k = resolvePack('auto', gpu, spec, batch, null, (s) => { line = s; });
    if (k !== autoK) log(line);
    return autoK = k;
  };
  const gather = () => { gatherTimer = setTimeout(() => { gatherTimer = null; void nextBatch(); }, GATHER_MS); };
  const processPacked = (job: Job<QueueJobData>, token?: string) => new Promise<unknown>((resolve) => {
    logTook(job);
    gathered.push({ job, token, resolve });
    if (gathered.length === 1 && !batchRunning) gather();
    void nextBatch();
  });
  const nextBatch = async () => {
    // A batch starts with `worker.concurrency` jobs in hand (all BullMQ will give), or when the window closes.
    if (batchRunning || !gathered.length || (gatherTimer && gathered.length < worker.concurrency)) return;
    if (gatherTimer) { clearTimeout(gatherTimer); gatherTimer = null; }
    batchRunning = true;
    const batch = gathered.splice(0);
    try {
      await runBatch(batch);
    } catch (e) {
      // Not one job's failure (runBatch settles those): every job of the batch not yet settled ends with it.
      for (const t of batch) settle(t, () => failed(t.job, t.token, e));
    } finally {
      batchRunning = false;
      // Jobs taken while it trained get a window of their own to fill up.
      if (gathered.length) { gather(); void nextBatch(); }
    }
  };
  /** What a batch needs of a job before it trains: its sweep job, and the model and batch size that size `auto`. */
  const prepare = async (job: Job<QueueJobData>) => {
    const j = sweepJobOf(job);
    const d = await jobData({ data }, j);
    const plan = planLottery({ ...j, maxLevel: j.kind === 'lottery' ? j.maxLevel : 0 }, d.data, d.pretrainData);
    return { sweepJob: j, spec: plan.spec, batch: j.hparams.dataset.batch_size };
  };
  const runBatch = async (batch: Taken[]) => {
    const t0 = Date.now();
    if (stopping) {
      // Taken while the worker was being stopped: back to the queue untouched.
      for (const t of batch) settle(t, () => failed(t.job, t.token, new RunStoppedError('the worker is stopping')));
      return;
    }
    // Set before the jobs are prepared (loading data takes a while), so that SIGTERM stops this batch too.
    const control = current = new RunControl();
    // A job whose spec, data or plan is unusable here fails alone, as it would alone.
    const ready: ({ t: Taken } & Awaited<ReturnType<typeof prepare>>)[] = [];
    for (const t of batch) {
      try { ready.push({ t, ...(await prepare(t.job)) }); } catch (e) { settle(t, () => failed(t.job, t.token, e)); }
    }
    const progress = ready.map((r) => ({ j: r.sweepJob, report: progressOf(r.t.job) }));
    const sink: EventSink = (e) => { logEvent(e); for (const p of progress) if (ownsRun(p.j, e.run)) p.report(e); };
    let outcomes: PackedJobOutcome[] | null = null, thrown: unknown = null;
    try {
      if (!ready.length) return;
      let k = pack as number;
      if (pack === 'auto') {
        // Sized from this batch's first job; the next batch takes that many jobs.
        k = worker.concurrency = sizeAuto(ready[0]!.spec, ready[0]!.batch);
      }
      if (ready.length > 1) log(`training ${ready.map((r) => r.t.job.id).join(', ')} together (up to ${k} networks per pack)`);
      outcomes = await runSweepJobsPacked({ gpu, storage, sink, data }, ready.map((r) => r.sweepJob), k, { owner: `worker ${name}`, control, log });
    } catch (e) {
      thrown = e; // stopped the whole batch (a non-input error, or a batch of one): it is every job's outcome
    } finally {
      current = null;
      lastEnd = Date.now();
    }
    ready.forEach((r, i) => {
      const o = outcomes?.[i];
      settle(r.t, () => (o && !('error' in o) ? completed(r.t.job, o, t0) : failed(r.t.job, r.t.token, o ? o.error : thrown)));
    });
  };

  const busy = () => current !== null || batchRunning || gathered.length > 0;
  const processor = async (job: Job<QueueJobData>, token?: string) => {
    // Read from Redis, so untrusted: a job that is not a sweep job fails at once, with the reason.
    const problem = jobProblem(job);
    if (problem) {
      const msg = `job ${job.id}: ${problem}; earlyphase cannot run it (written by another tool or version, or cut off): earlyphase queue clean removes it`;
      log(`${job.id} failed: ${msg} (not retried)`);
      throw new UnrecoverableError(msg);
    }
    return pack === 1 ? processOne(job, token) : processPacked(job, token);
  };

  const worker = new Worker<QueueJobData>(QUEUE_NAME, processor, {
    connection, name,
    // auto: one until the first job in the queue has sized K (below).
    concurrency: pack === 'auto' ? 1 : pack, autorun: pack !== 'auto',
    lockDuration: o.stalledSeconds * 1000, stalledInterval: (o.stalledSeconds * 1000) / 2,
    // A job whose worker died is retried (from its checkpoint) up to this many times.
    maxStalledCount: 10,
  });
  // Connection errors are retried by ioredis; say so once per kind instead of crashing.
  const seen = new Set<string>();
  const onError = (e: Error) => { const k = (e as NodeJS.ErrnoException).code ?? e.message; if (!seen.has(k)) { seen.add(k); log(`Redis at ${target.url}: ${e.message} (retrying)`); } };
  worker.on('error', onError);
  queue.on('error', onError);
  worker.on('ready', () => seen.clear());

  let idleTimer: NodeJS.Timeout | null = null;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => { finished = resolve; });
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    if (idleTimer) clearInterval(idleTimer);
    log(`${why}: ${current ? `stopping the current ${pack === 1 ? 'job' : 'batch'} at its next step` : gathered.length ? 'handing back the jobs in hand' : 'no job running'}`);
    current?.stop();
    await worker.close();
    await queue.close();
    gpu.destroy();
    log('stopped');
    finished();
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { void shutdown(sig); });
  if (o.exitWhenIdle) {
    // Nothing waiting, delayed or running anywhere (a running trunk may still add dependents).
    idleTimer = setInterval(() => {
      if (busy() || stopping) return;
      void queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'paused').then((c) => {
        if (!busy() && Object.values(c).every((n) => n === 0)) void shutdown('the queue is empty');
      }, () => {});
    }, 2000);
  }
  log(`${gpu.adapter.shortName}; runs root ${storage.root}; queue ${target.url}${pack === 1 ? '' : `; --pack ${pack}`}`);
  if (pack === 'auto') {
    // The first batch needs K before BullMQ hands out jobs: size it from the oldest job waiting
    // (waiting for one to be enqueued); later batches are sized from their own first job.
    void (async () => {
      while (!stopping) {
        const [first] = await queue.getJobs(['prioritized', 'waiting'], 0, 0, true).catch(() => []);
        if (first) {
          try {
            const { spec, batch } = await prepare(first as Job<QueueJobData>);
            worker.concurrency = sizeAuto(spec, batch);
          } catch (e) {
            log(`--pack auto: cannot size from ${first.id} (${(e as Error).message}); its batch takes one job`);
          }
          if (!stopping) void worker.run().catch(onError);
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
  }
  await done;
}
