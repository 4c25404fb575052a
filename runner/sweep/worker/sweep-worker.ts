// A worker's lifecycle: the BullMQ Worker that takes jobs (each checked before it runs, then
// trained alone or in a batch), Redis errors said once, SIGTERM/SIGINT and an empty queue
// (--exit-when-idle) stopping it, and the shutdown that hands back what it holds.
import type { Job, Worker } from 'bullmq';
import { terminalSink } from '../../cli/progress.ts';
import type { PackSize } from '../../host/pack-size.ts';
import { QUEUE_NAME, connectionOptions, type Bullmq, type RedisTarget } from '../queue/connection.ts';
import { jobProblem, untrustedJobClasses } from '../queue/job-data.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import { AutoPack } from './auto-pack.ts';
import { WorkerCore, type TrainingEnv } from './core.ts';
import { JobEnds } from './job-ends.ts';
import { runOneJob } from './one-job.ts';
import { PackedJobs } from './packed-jobs.ts';

export interface SweepWorkerOptions {
  name: string; target: RedisTarget; env: TrainingEnv; pack: PackSize;
  /** Seconds without a lock renewal after which BullMQ considers a job stalled (its worker dead). */
  stalledSeconds: number;
  exitWhenIdle?: boolean; quiet?: boolean;
}

export class SweepWorker {
  private readonly core: WorkerCore;
  private readonly ends: JobEnds;
  private readonly auto: AutoPack;
  private readonly worker: Worker<QueueJobData>;
  /** The batches of --pack; null without it (jobs train one at a time). */
  private readonly packed: PackedJobs | null;
  private readonly redisErrors: RedisErrors;
  private idleTimer: NodeJS.Timeout | null = null;
  private finished!: () => void;
  private readonly done = new Promise<void>((resolve) => { this.finished = resolve; });

  constructor(private readonly bullmq: Bullmq, private readonly o: SweepWorkerOptions) {
    const { Worker, Queue } = untrustedJobClasses(bullmq);
    const connection = connectionOptions(o.target);
    const queue = new Queue(QUEUE_NAME, { connection });
    this.core = new WorkerCore(o.name, o.env, queue, terminalSink({ quiet: o.quiet }));
    this.ends = new JobEnds(this.core, bullmq, (why) => this.shutdown(why));
    this.auto = new AutoPack(this.core);
    this.worker = new Worker<QueueJobData>(QUEUE_NAME, (job, token) => this.take(job, token), {
      connection, name: o.name,
      // auto: one until the first job in the queue has sized K (below).
      concurrency: o.pack === 'auto' ? 1 : o.pack, autorun: o.pack !== 'auto',
      lockDuration: o.stalledSeconds * 1000, stalledInterval: (o.stalledSeconds * 1000) / 2,
      // A job whose worker died is retried (from its checkpoint) up to this many times.
      maxStalledCount: 10,
    });
    this.packed = o.pack === 1 ? null : new PackedJobs(this.core, this.ends, o.pack, this.auto, this.worker);
    this.redisErrors = new RedisErrors(this.core.log, o.target.url);
  }

  /** Takes jobs until shutdown has finished. */
  async run(): Promise<void> {
    const onError = this.redisErrors.report;
    this.worker.on('error', onError);
    this.core.queue.on('error', onError);
    this.worker.on('ready', () => this.redisErrors.reset());
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { void this.shutdown(sig); });
    if (this.o.exitWhenIdle) this.watchIdle();
    const { gpu, storage } = this.core.env, pack = this.o.pack;
    this.core.log(`${gpu.adapter.shortName}; runs root ${storage.root}; queue ${this.o.target.url}${pack === 1 ? '' : `; --pack ${pack}`}`);
    if (pack === 'auto') void this.auto.startSized(this.worker, onError);
    await this.done;
  }

  /** The processor BullMQ calls with each job it hands this worker. */
  private async take(job: Job<QueueJobData>, token?: string) {
    // Read from Redis, so untrusted: a job that is not a sweep job fails at once, with the reason.
    const problem = jobProblem(job);
    if (problem) {
      const msg = `job ${job.id}: ${problem}; earlyphase cannot run it (written by another tool or version, or cut off): earlyphase queue clean removes it`;
      this.core.log(`${job.id} failed: ${msg} (not retried)`);
      throw new this.bullmq.UnrecoverableError(msg);
    }
    return this.packed ? this.packed.take(job, token) : runOneJob(this.core, this.ends, job, token);
  }

  private busy(): boolean {
    return this.core.current !== null || (this.packed?.busy ?? false);
  }

  /** --exit-when-idle: stops once nothing is waiting, delayed or running anywhere (a running trunk may still add dependents). */
  private watchIdle(): void {
    this.idleTimer = setInterval(() => {
      if (this.busy() || this.core.stopping) return;
      void this.core.queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children', 'paused').then((c) => {
        if (!this.busy() && Object.values(c).every((n) => n === 0)) void this.shutdown('the queue is empty');
      }, () => {});
    }, 2000);
  }

  /** Stops taking jobs, stops the one training at its next step (its job is handed back), and closes everything; once. */
  private async shutdown(why: string): Promise<void> {
    const w = this.core;
    if (w.stopping) return;
    w.stopping = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    w.log(`${why}: ${w.current ? `stopping the current ${this.o.pack === 1 ? 'job' : 'batch'} at its next step` : this.packed?.holding ? 'handing back the jobs in hand' : 'no job running'}`);
    w.current?.stop();
    await this.worker.close();
    await w.queue.close();
    w.env.gpu.destroy();
    w.log('stopped');
    this.finished();
  }
}

/** Connection errors are retried by ioredis; says so once per kind instead of crashing (again once the worker is ready). */
class RedisErrors {
  private readonly seen = new Set<string>();

  constructor(private readonly log: (s: string) => void, private readonly url: string) {}

  readonly report = (e: Error): void => {
    const k = (e as NodeJS.ErrnoException).code ?? e.message;
    if (!this.seen.has(k)) { this.seen.add(k); this.log(`Redis at ${this.url}: ${e.message} (retrying)`); }
  };

  reset(): void { this.seen.clear(); }
}
