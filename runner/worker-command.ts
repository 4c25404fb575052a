// `earlyphase worker --queue redis://… --root DIR`: one per GPU, on any number of machines sharing
// DIR. A BullMQ Worker takes sweep jobs one at a time and runs each through the local sweep's
// driver (runner/sweep-job.ts). Retries, backoff, stalled-job detection (a worker killed or a
// machine lost: its lock in Redis expires and the job goes back to the queue) and reconnecting to
// Redis are BullMQ's; what is ours is sorting errors into "retry" and "do not retry", reporting
// progress, adding a trunk's dependents when it completes, and handing the job back on SIGTERM.
import { hostname } from 'node:os';
import type { Job } from 'bullmq';
import { UserError } from '../src/errors.ts';
import { RunControl } from '../src/train/control.ts';
import type { EventSink } from '../src/train/events.ts';
import { openGpu } from './dawn.ts';
import { FsStorage } from './fs-storage.ts';
import { terminalSink } from './progress.ts';
import { runSweepJob, datasetCache } from './sweep-job.ts';
import { QUEUE_NAME, checkReachable, connectionOptions, loadBullmq, parseQueueUrl } from './queue/connection.ts';
import { addDependents, queueEntries, type QueueJobData } from './queue/jobs.ts';
import { failureAction } from './queue/failures.ts';

export interface WorkerCommand {
  queue: string; root: string; adapter?: string; dataDir?: string; name?: string;
  /** Seconds without a lock renewal after which BullMQ considers a job stalled (its worker dead). */
  stalledSeconds: number;
  exitWhenIdle?: boolean; quiet?: boolean;
}

export async function runWorker(o: WorkerCommand): Promise<void> {
  const target = parseQueueUrl(o.queue);
  await checkReachable(target);
  const { Worker, Queue, UnrecoverableError, WaitingError } = await loadBullmq();
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
  const terminal = terminalSink({ quiet: o.quiet });

  const processor = async (job: Job<QueueJobData>, token?: string) => {
    const d = job.data;
    const t0 = Date.now();
    // The queue's own overhead as this worker sees it: from the end of its last job to this start.
    const gap = lastEnd ? `, ${t0 - lastEnd} ms after the previous job` : '';
    log(`took ${job.id}: ${d.kind} ${d.label} (attempt ${job.attemptsMade + 1}${gap})`);
    const control = current = new RunControl();
    let lastProgress = 0;
    const sink: EventSink = (e) => {
      terminal(e);
      if (e.type === 'checkpoint' || e.type === 'start') log(`${e.run}: ${e.type === 'start' ? (e.resumed ? 'resuming at' : 'starting at') : 'checkpoint at'} iteration ${e.type === 'start' ? e.startIteration : e.iteration}`);
      if ((e.type === 'step' || e.type === 'checkpoint') && Date.now() - lastProgress > 2000) {
        lastProgress = Date.now();
        void job.updateProgress({ run: e.run, iteration: e.iteration, total: e.type === 'step' ? e.totalIterations : null }).catch(() => {});
      }
    };
    try {
      const entry = queueEntries(d.spec).find((e) => e.data.key === d.key);
      if (!entry) throw new UserError(`job ${job.id}: its sweep spec has no job with key ${d.key} (enqueued by another earlyphase version?)`);
      const r = await runSweepJob({ gpu, storage, sink, data }, entry.job, { owner: `worker ${name}`, control, log });
      if (d.kind === 'lottery') await addDependents(queue, d.spec, d.trunk);
      log(`finished ${job.id} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return 'rows' in r ? { rows: r.rows.map(({ level, weightsHash, testAccuracy, dir }) => ({ level, weightsHash, testAccuracy, dir })) } : r;
    } catch (e) {
      const action = failureAction(e, stopping);
      const msg = (e as Error).message;
      if (action === 'hand-back' && token) {
        log(`handing ${job.id} back to the queue (its folder keeps the last checkpoint)`);
        await job.moveToWait(token);
        throw new WaitingError();
      }
      log(`${job.id} failed: ${msg}${action === 'fail' ? ' (not retried)' : ''}`);
      if (action === 'fail') throw new UnrecoverableError(msg);
      if (action === 'retry-and-exit') setImmediate(() => { process.exitCode = 3; void shutdown('the GPU is unusable'); });
      // Named after this worker: the data or device may be fine on another one.
      throw new Error(`on worker ${name}: ${msg}`);
    } finally {
      current = null;
      lastEnd = Date.now();
    }
  };

  const worker = new Worker<QueueJobData>(QUEUE_NAME, processor, {
    connection, name, concurrency: 1,
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
    log(`${why}: ${current ? 'stopping the current job at its next step' : 'no job running'}`);
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
      if (current || stopping) return;
      void queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'paused').then((c) => {
        if (!current && Object.values(c).every((n) => n === 0)) void shutdown('the queue is empty');
      }, () => {});
    }, 2000);
  }
  log(`${gpu.adapter.shortName}; runs root ${storage.root}; queue ${target.url}`);
  await done;
}
