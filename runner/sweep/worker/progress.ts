// A job's progress as `queue status` shows it: the run and iteration its training events reach,
// reported to the queue at most every 2 s.
import type { Job } from 'bullmq';
import type { SweepJob } from '../../../src/lottery/sweep.ts';
import type { TrainEvent } from '../../../src/train/events.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import { trunkFolder } from '../sweep-job.ts';

/** Reports a job's progress to the queue (for `queue status`), at most every 2 s. */
export function progressReporter(job: Job<QueueJobData>): (e: TrainEvent) => void {
  let lastProgress = 0;
  return (e: TrainEvent) => {
    if ((e.type === 'step' || e.type === 'checkpoint') && Date.now() - lastProgress > 2000) {
      lastProgress = Date.now();
      void job.updateProgress({ run: e.run, iteration: e.iteration, total: e.type === 'step' ? e.totalIterations : null }).catch(() => {});
    }
  };
}

/**
 * Whether a training event's run is one of this job's (the run names of src/lottery:
 * `<trunk>/level_L` or `<trunk>/pretrain` for a lottery, `<trunk>/level_L/<branch>`,
 * `<trunk>/level_L/instability copy N`): a batch shares one event sink, progress is per job.
 */
export function ownsRun(j: SweepJob, run: string): boolean {
  const t = trunkFolder(j);
  if (!run.startsWith(`${t}/`)) return false;
  const [first, second] = run.slice(t.length + 1).split('/');
  if (j.kind === 'lottery') return second === undefined;
  if (j.kind === 'branch') return second === j.branch && j.levels.some((l) => first === `level_${l}`);
  return first === `level_${j.level}` && !!second?.startsWith('instability copy');
}
