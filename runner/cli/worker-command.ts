// `earlyphase worker --queue redis://… --root DIR`: one per GPU, on any number of machines sharing
// DIR. A BullMQ Worker takes sweep jobs one at a time and runs each through the local sweep's
// driver (runner/sweep/sweep-job.ts); with --pack K it takes up to K at a time and trains them together
// as a packed local sweep does (runSweepJobsPacked), each job still completed, retried, failed or
// handed back on its own. Retries, backoff, stalled-job detection (a worker killed or a
// machine lost: its lock in Redis expires and the job goes back to the queue) and reconnecting to
// Redis are BullMQ's; what is ours is sorting errors into "retry" and "do not retry", reporting
// progress, adding a trunk's dependents when it completes, and handing the job back on SIGTERM.
// Jobs are untrusted input: one whose data does not parse or is not a sweep job fails at once with
// a one-line reason (runner/sweep/queue/job-data.ts). A worker that cannot run jobs here (its data is
// missing on consecutive jobs) hands them back and exits with EXIT_CANNOT_RUN_HERE.
//
// The parts are in runner/sweep/worker/: sweep-worker.ts (taking jobs, stopping, shutdown), one-job.ts
// and packed-jobs.ts (training a job alone or in a batch), job-ends.ts (what becomes of a job
// that completed or threw), progress.ts, job-spec.ts, auto-pack.ts, core.ts (what they share).
import { hostname } from 'node:os';
import { openGpu } from '../host/dawn.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { datasetCache } from '../sweep/sweep-job.ts';
import { parsePack } from '../host/pack-size.ts';
import { checkReachable, loadBullmq, parseQueueUrl } from '../sweep/queue/connection.ts';
import { SweepWorker } from '../sweep/worker/sweep-worker.ts';

export interface WorkerCommand {
  queue: string; root: string; adapter?: string; dataDir?: string; name?: string;
  /** Seconds without a lock renewal after which BullMQ considers a job stalled (its worker dead). */
  stalledSeconds: number;
  exitWhenIdle?: boolean; quiet?: boolean;
  /** --pack K|auto: jobs taken at a time and trained together (1: one at a time). */
  pack?: string;
}

export async function runWorker(o: WorkerCommand): Promise<void> {
  const pack = o.pack ? parsePack(o.pack) : 1;
  const target = parseQueueUrl(o.queue);
  await checkReachable(target);
  const bullmq = await loadBullmq();
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const storage = new FsStorage(o.root);
  const data = datasetCache(o.dataDir);
  const gpu = await openGpu(o.adapter);
  const { stalledSeconds, exitWhenIdle, quiet } = o;
  await new SweepWorker(bullmq, { name, target, env: { gpu, storage, data }, pack, stalledSeconds, exitWhenIdle, quiet }).run();
}
