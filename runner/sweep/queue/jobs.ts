// A sweep as queue jobs. Every job's id is a hash of what it computes, so adding a sweep twice
// (or a job whose twin is already queued, running or done) adds nothing. Each job carries the
// whole validated spec and the key of its job in it: a worker expands the spec exactly as a local
// sweep does and runs that job, so both paths build the same hyperparameters.
//
// Dependencies: a branch or instability job needs its trunk's lottery levels. BullMQ flows give a
// child one parent, but a trunk has many dependents, so the dependents are added (by their
// deterministic ids) when the trunk's job completes — never before, and never twice.
import type { JobsOptions, Queue } from 'bullmq';
import { canonicalJSON, sha256Hex } from '../../../src/io/digest.ts';
import { expandSweep, type SweepJob, type SweepSpec } from '../../../src/lottery/sweep.ts';
import { trunkFolder } from '../sweep-job.ts';
import { jobProblem, type QueueJobData } from './job-data.ts';


export interface QueueEntry { id: string; job: SweepJob; data: QueueJobData }

/** Transient failures (device lost, a dead NFS mount) are retried with backoff; input errors are not retried at all. */
export const JOB_OPTIONS: JobsOptions = {
  attempts: 4, backoff: { type: 'exponential', delay: 5_000 }, removeOnComplete: false, removeOnFail: false,
};

export function queueEntries(spec: SweepSpec): QueueEntry[] {
  return expandSweep(spec).map((job) => {
    const key = sha256Hex(canonicalJSON(job)).slice(0, 16);
    // BullMQ ids may not contain ':' nor be integers.
    return { id: `${spec.name}.${job.kind}.${key}`, job, data: { sweep: spec.name, spec, key, kind: job.kind, label: job.label, trunk: trunkFolder(job) } };
  });
}

const asBulk = (es: QueueEntry[], command?: string) =>
  es.map((e) => ({ name: `${e.data.sweep}: ${e.job.kind}`, data: command ? { ...e.data, command } : e.data, opts: { ...JOB_OPTIONS, jobId: e.id } }));

/** Adds the branch and instability jobs of one trunk (ids that exist already are left alone). */
export async function addDependents(queue: Queue, spec: SweepSpec, trunk: string, command?: string): Promise<number> {
  const deps = queueEntries(spec).filter((e) => e.job.kind !== 'lottery' && e.data.trunk === trunk);
  if (deps.length) await queue.addBulk(asBulk(deps, command));
  return deps.length;
}

/**
 * Adds a sweep's lottery jobs, and the dependents of trunks whose job is already complete. A job
 * under the same id whose data is unusable (jobProblem) and that no worker holds is replaced.
 */
export async function enqueueSweep(queue: Queue, spec: SweepSpec, command?: string): Promise<{ added: number; present: number; total: number }> {
  const entries = queueEntries(spec);
  let added = 0, present = 0;
  for (const e of entries) {
    const old = await queue.getJob(e.id);
    if (old && jobProblem(old) && (await old.getState()) !== 'active') await old.remove();
    else if (old) { present++; continue; }
    if (e.job.kind !== 'lottery') {
      const trunk = entries.find((t) => t.job.kind === 'lottery' && t.data.trunk === e.data.trunk)!;
      if ((await queue.getJobState(trunk.id)) !== 'completed') continue;
    }
    await queue.addBulk(asBulk([e], command));
    added++;
  }
  return { added, present, total: entries.length };
}
