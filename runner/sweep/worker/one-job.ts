// A worker without --pack: each job trains alone, start to end, in its processor call.
import type { Job } from 'bullmq';
import { RunStoppedError } from '../../../src/train/control.ts';
import type { EventSink } from '../../../src/train/events.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import { runSweepJob } from '../sweep-job.ts';
import type { WorkerCore } from './core.ts';
import type { JobEnds } from './job-ends.ts';
import { sweepJobOf } from './job-spec.ts';
import { progressReporter } from './progress.ts';

export async function runOneJob(w: WorkerCore, ends: JobEnds, job: Job<QueueJobData>, token?: string) {
  // Taken while the worker was being stopped (BullMQ may hand out one more job): back untouched.
  if (w.stopping) return ends.failed(job, token, new RunStoppedError('the worker is stopping'));
  const t0 = Date.now();
  w.logTook(job);
  const control = w.startRun();
  const progress = progressReporter(job);
  const sink: EventSink = (e) => { w.logEvent(e); progress(e); };
  try {
    const r = await runSweepJob({ ...w.env, sink }, sweepJobOf(job), w.jobOptions(control));
    return await ends.completed(job, r, t0);
  } catch (e) {
    return await ends.failed(job, token, e);
  } finally {
    w.endRun();
  }
}
