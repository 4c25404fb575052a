// A worker with --pack K|auto: every processor call (BullMQ runs up to K at once) leaves its job
// here and waits for the batch that trains it; one batch trains at a time, as a packed local sweep
// does (runSweepJobsPacked), each job still completed, retried, failed or handed back on its own.
import type { Job, Worker } from 'bullmq';
import { RunStoppedError, type RunControl } from '../../../src/train/control.ts';
import type { EventSink } from '../../../src/train/events.ts';
import type { PackSize } from '../../host/pack-size.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import { runSweepJobsPacked, type PackedJobOutcome } from '../sweep-job.ts';
import type { AutoPack } from './auto-pack.ts';
import type { WorkerCore } from './core.ts';
import type { JobEnds } from './job-ends.ts';
import { planJob, type PlannedJob } from './job-spec.ts';
import { ownsRun, progressReporter } from './progress.ts';

/**
 * How long a packing worker waits for more jobs after the first of a batch arrives (or the
 * previous batch ends). Jobs already waiting arrive within milliseconds; this only delays a batch
 * that the queue cannot fill, by far less than a training run.
 */
const GATHER_MS = 1000;

/** A job in hand: its processor call ends when `resolve` is given its outcome. */
interface Taken { job: Job<QueueJobData>; token?: string; resolve: (outcome: Promise<unknown>) => void; settled?: boolean }
type Ready = { t: Taken } & PlannedJob;

export class PackedJobs {
  private readonly gathered: Taken[] = [];
  private gatherTimer: NodeJS.Timeout | null = null;
  private batchRunning = false;

  /** `worker`'s concurrency is the most jobs a batch waits for (--pack auto sets it). */
  constructor(
    private readonly w: WorkerCore, private readonly ends: JobEnds, private readonly pack: PackSize,
    private readonly auto: AutoPack, private readonly worker: Worker<QueueJobData>,
  ) {}

  /** Whether a batch trains or jobs are in hand. */
  get busy(): boolean { return this.batchRunning || this.gathered.length > 0; }
  /** Whether jobs wait in hand for their batch. */
  get holding(): boolean { return this.gathered.length > 0; }

  /** A processor call: the job waits for its batch; the promise is its outcome. */
  take(job: Job<QueueJobData>, token?: string): Promise<unknown> {
    return new Promise<unknown>((resolve) => {
      this.w.logTook(job);
      this.gathered.push({ job, token, resolve });
      if (this.gathered.length === 1 && !this.batchRunning) this.gather();
      void this.nextBatch();
    });
  }

  private gather(): void {
    this.gatherTimer = setTimeout(() => { this.gatherTimer = null; void this.nextBatch(); }, GATHER_MS);
  }

  private async nextBatch(): Promise<void> {
    // A batch starts with `worker.concurrency` jobs in hand (all BullMQ will give), or when the window closes.
    if (this.batchRunning || !this.gathered.length || (this.gatherTimer && this.gathered.length < this.worker.concurrency)) return;
    if (this.gatherTimer) { clearTimeout(this.gatherTimer); this.gatherTimer = null; }
    this.batchRunning = true;
    const batch = this.gathered.splice(0);
    try {
      await this.runBatch(batch);
    } catch (e) {
      // Not one job's failure (runBatch settles those): every job of the batch not yet settled ends with it.
      for (const t of batch) this.settle(t, () => this.ends.failed(t.job, t.token, e));
    } finally {
      this.batchRunning = false;
      // Jobs taken while it trained get a window of their own to fill up.
      if (this.gathered.length) { this.gather(); void this.nextBatch(); }
    }
  }

  /** Ends a job's processor call with `outcome` (completed, or failed as failureAction says), once. */
  private settle(t: Taken, outcome: () => Promise<unknown>): void {
    if (t.settled) return;
    t.settled = true;
    t.resolve(outcome());
  }

  private async runBatch(batch: Taken[]): Promise<void> {
    const t0 = Date.now();
    if (this.w.stopping) {
      // Taken while the worker was being stopped: back to the queue untouched.
      for (const t of batch) this.settle(t, () => this.ends.failed(t.job, t.token, new RunStoppedError('the worker is stopping')));
      return;
    }
    // Set before the jobs are prepared (loading data takes a while), so that SIGTERM stops this batch too.
    const control = this.w.startRun();
    const ready = await this.plan(batch);
    let outcomes: PackedJobOutcome[] | null = null, thrown: unknown = null;
    try {
      if (!ready.length) return;
      outcomes = await this.train(ready, control);
    } catch (e) {
      thrown = e; // stopped the whole batch (a non-input error, or a batch of one): it is every job's outcome
    } finally {
      this.w.endRun();
    }
    ready.forEach((r, i) => {
      const o = outcomes?.[i];
      this.settle(r.t, () => (o && !('error' in o) ? this.ends.completed(r.t.job, o, t0) : this.ends.failed(r.t.job, r.t.token, o ? o.error : thrown)));
    });
  }

  /** The batch's jobs that can train: a job whose spec, data or plan is unusable here fails alone, as it would alone. */
  private async plan(batch: Taken[]): Promise<Ready[]> {
    const ready: Ready[] = [];
    for (const t of batch) {
      try { ready.push({ t, ...(await planJob(this.w.env.data, t.job)) }); } catch (e) { this.settle(t, () => this.ends.failed(t.job, t.token, e)); }
    }
    return ready;
  }

  /** Trains the ready jobs together, each job's progress reported to its own queue entry. */
  private async train(ready: Ready[], control: RunControl): Promise<PackedJobOutcome[]> {
    const progress = ready.map((r) => ({ j: r.sweepJob, report: progressReporter(r.t.job) }));
    const sink: EventSink = (e) => { this.w.logEvent(e); for (const p of progress) if (ownsRun(p.j, e.run)) p.report(e); };
    let k = this.pack as number;
    if (this.pack === 'auto') {
      // Sized from this batch's first job; the next batch takes that many jobs.
      k = this.worker.concurrency = this.auto.size(ready[0]!.spec, ready[0]!.batch);
    }
    if (ready.length > 1) this.w.log(`training ${ready.map((r) => r.t.job.id).join(', ')} together (up to ${k} networks per pack)`);
    return runSweepJobsPacked({ ...this.w.env, sink }, ready.map((r) => r.sweepJob), k, this.w.jobOptions(control));
  }
}

