// A queue job's sweep job: its own entry in the sweep spec it carries, expanded here exactly as
// the enqueuing machine did. The spec came from Redis, so whatever it throws fails the job.
import type { Job } from 'bullmq';
import { UserError } from '../../../src/errors.ts';
import { planLottery } from '../../../src/lottery/lottery.ts';
import type { SweepJob } from '../../../src/lottery/sweep.ts';
import type { ModelSpec } from '../../../src/nn/graph.ts';
import { queueEntries } from '../queue/jobs.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import { jobData, type JobEnv } from '../sweep-job.ts';

/** The job's own entry in its sweep spec, expanded here exactly as the enqueuing machine did. */
export function sweepJobOf(job: Job<QueueJobData>): SweepJob {
  let entries;
  try { entries = queueEntries(job.data.spec); } catch (e) {
    // A spec that does not expand fails the job, whatever it throws: it came from outside.
    if (e instanceof UserError) throw e;
    throw new UserError(`job ${job.id}: its sweep spec does not expand (${(e as Error).message})`);
  }
  const entry = entries.find((e) => e.data.key === job.data.key);
  if (!entry) throw new UserError(`job ${job.id}: its sweep spec has no job with key ${job.data.key} (enqueued by another earlyphase version?)`);
  return entry.job;
}

export interface PlannedJob { sweepJob: SweepJob; spec: ModelSpec; batch: number }

/** What a batch needs of a job before it trains: its sweep job, and the model and batch size that size `--pack auto`. */
export async function planJob(data: JobEnv['data'], job: Job<QueueJobData>): Promise<PlannedJob> {
  const j = sweepJobOf(job);
  const d = await jobData({ data }, j);
  const plan = planLottery({ ...j, maxLevel: j.kind === 'lottery' ? j.maxLevel : 0 }, d.data, d.pretrainData);
  return { sweepJob: j, spec: plan.spec, batch: j.hparams.dataset.batch_size };
}
