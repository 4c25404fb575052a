// How a job's processor call ends, which is what BullMQ does with the job: completed (its trunk's
// dependents queued first), handed back to the queue without using an attempt (SIGTERM, or this
// worker cannot run it), failed for good, or failed to be retried (failureAction decides).
import type { Job } from 'bullmq';
import type { Bullmq } from '../queue/connection.ts';
import { EXIT_CANNOT_RUN_HERE, OWN_FAILURES_TO_STOP, failureAction } from '../queue/failures.ts';
import { addDependents } from '../queue/jobs.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import type { JobOutcome } from '../sweep-job.ts';
import type { WorkerCore } from './core.ts';

export class JobEnds {
  /** Jobs handed back in a row because this worker cannot run them (failureAction 'own'); a job it runs or fails otherwise resets it. */
  private ownFailures = 0;

  /** `shutdown` stops the worker (it ends `why` in the log). */
  constructor(
    private readonly w: WorkerCore,
    private readonly errors: Pick<Bullmq, 'UnrecoverableError' | 'WaitingError'>,
    private readonly shutdown: (why: string) => Promise<void>,
  ) {}

  /** A job that ran to the end: its trunk's dependents are queued before it counts as complete. */
  async completed(job: Job<QueueJobData>, r: JobOutcome, t0: number) {
    if (job.data.kind === 'lottery') await addDependents(this.w.queue, job.data.spec, job.data.trunk, job.data.command);
    this.ownFailures = 0;
    this.w.log(`finished ${job.id} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return 'rows' in r ? { rows: r.rows.map(({ level, weightsHash, testAccuracy, dir }) => ({ level, weightsHash, testAccuracy, dir })) } : r;
  }

  /** A job that threw: handed back, failed for good, or retried (failureAction decides). */
  async failed(job: Job<QueueJobData>, token: string | undefined, e: unknown): Promise<never> {
    const action = failureAction(e, this.w.stopping);
    const msg = (e as Error).message;
    if (action === 'hand-back' && token) return this.handBack(job, token);
    if (action === 'own' && token) return this.cannotRunHere(job, token, msg);
    this.ownFailures = 0;
    this.w.log(`${job.id} failed: ${msg}${action === 'fail' ? ' (not retried)' : ''}`);
    if (action === 'fail') throw new this.errors.UnrecoverableError(msg);
    if (action === 'retry-and-exit') this.exitSoon(() => 'the GPU is unusable');
    // Named after this worker: the data or device may be fine on another one.
    throw new Error(`on worker ${this.w.name}: ${msg}`);
  }

  /** Stopped by SIGTERM: back to the queue with no attempt used. */
  private async handBack(job: Job<QueueJobData>, token: string): Promise<never> {
    this.w.log(`handing ${job.id} back to the queue (its folder keeps the last checkpoint)`);
    await job.moveToWait(token);
    throw new this.errors.WaitingError();
  }

  /** Back to the queue with no attempt used; OWN_FAILURES_TO_STOP of these in a row stop the worker. */
  private async cannotRunHere(job: Job<QueueJobData>, token: string, msg: string): Promise<never> {
    // Not the job's fault: another worker (or this one, fixed) runs it; no attempt is used.
    this.ownFailures++;
    const why = msg.split('\n')[0]!.replace(/\.$/, '');
    this.w.log(`${job.id} cannot run here: ${why}; handed back to the queue (no attempt used)`);
    await job.moveToWait(token);
    if (this.ownFailures >= OWN_FAILURES_TO_STOP) {
      this.exitSoon(() => `${this.ownFailures} jobs in a row cannot run on this worker (${why}); it stops taking jobs, and they stay queued ` +
        `for a worker that can run them. Fix this worker (--data-dir, or earlyphase data fetch) and start it again; exit code ${EXIT_CANNOT_RUN_HERE}`);
    }
    throw new this.errors.WaitingError();
  }

  /** Once this processor call has ended: the worker stops, and its process exits with EXIT_CANNOT_RUN_HERE. */
  private exitSoon(why: () => string): void {
    setImmediate(() => {
      process.exitCode = EXIT_CANNOT_RUN_HERE;
      void this.shutdown(why());
    });
  }
}
