// What the parts of a worker share: its name and log, where its jobs train, the queue, and what
// it is doing now (the job or batch SIGTERM stops, whether it is stopping).
import type { Job, Queue } from 'bullmq';
import { RunControl } from '../../../src/train/control.ts';
import type { EventSink, TrainEvent } from '../../../src/train/events.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import type { JobEnv, JobOptions } from '../sweep-job.ts';

/** Where jobs train (each job or batch adds its own event sink). */
export type TrainingEnv = Omit<JobEnv, 'sink'>;

export class WorkerCore {
  /** The job or batch training now, which shutdown stops at its next step; null between them. */
  current: RunControl | null = null;
  /** Set when shutdown begins: jobs taken from then on go back to the queue untouched. */
  stopping = false;
  /** When the last job or batch ended (0: none yet). */
  private lastEnd = 0;

  constructor(readonly name: string, readonly env: TrainingEnv, readonly queue: Queue, private readonly terminal: EventSink) {}

  readonly log = (s: string): void => { process.stderr.write(`[worker ${this.name}] ${s}\n`); };

  /** A job or batch starts training; its RunControl is `current` until endRun. */
  startRun(): RunControl {
    return this.current = new RunControl();
  }

  endRun(): void {
    this.current = null;
    this.lastEnd = Date.now();
  }

  /** What runSweepJob(s) needs of this worker to run a job under `control`. */
  jobOptions(control: RunControl): JobOptions {
    return { owner: `worker ${this.name}`, control, log: this.log };
  }

  logTook(job: Job<QueueJobData>): void {
    // The queue's own overhead as this worker sees it: from the end of its last job to this start.
    const gap = this.lastEnd ? `, ${Date.now() - this.lastEnd} ms after the previous job` : '';
    this.log(`took ${job.id}: ${job.data.kind} ${job.data.label} (attempt ${job.attemptsMade + 1}${gap})`);
  }

  /** A training event on the terminal; starts and checkpoints also in the worker's log. */
  logEvent(e: TrainEvent): void {
    this.terminal(e);
    if (e.type === 'checkpoint' || e.type === 'start') this.log(`${e.run}: ${e.type === 'start' ? (e.resumed ? 'resuming at' : 'starting at') : 'checkpoint at'} iteration ${e.type === 'start' ? e.startIteration : e.iteration}`);
  }
}
