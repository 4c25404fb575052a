// The queue's own overhead in a finished sweep, from BullMQ's job timestamps: how long a worker
// sat idle between the end of one job and the start of its next while jobs were waiting, and how
// long a runnable job waited although a worker was idle. Used for the figures in docs/sweeps.md:
//   npx tsx runner/sweep/queue/overhead.ts redis://HOST:PORT SWEEP
import type { Job } from 'bullmq';
import { QUEUE_NAME, checkReachable, connectionOptions, loadBullmq, parseQueueUrl } from './connection.ts';
import type { QueueJobData } from './job-data.ts';
import { sweepOf, untrustedJobClasses } from './job-data.ts';

export interface Overhead { jobs: number; workers: number; wallSeconds: number; gapsMs: number[]; meanRunMs: number }

export function overhead(jobs: Pick<Job, 'timestamp' | 'processedOn' | 'finishedOn' | 'processedBy'>[]): Overhead {
  const done = jobs.filter((j) => j.processedOn && j.finishedOn);
  const byWorker = new Map<string, typeof done>();
  for (const j of done) byWorker.set(j.processedBy ?? '?', [...(byWorker.get(j.processedBy ?? '?') ?? []), j]);
  const gapsMs: number[] = [];
  for (const js of byWorker.values()) {
    js.sort((a, b) => a.processedOn! - b.processedOn!);
    // A gap counts only when the next job was already runnable when the previous one ended.
    for (let i = 1; i < js.length; i++) {
      const ready = Math.max(js[i - 1]!.finishedOn!, js[i]!.timestamp);
      gapsMs.push(js[i]!.processedOn! - ready);
    }
  }
  const start = Math.min(...done.map((j) => j.processedOn!)), end = Math.max(...done.map((j) => j.finishedOn!));
  return { jobs: done.length, workers: byWorker.size, wallSeconds: (end - start) / 1000, gapsMs, meanRunMs: done.reduce((a, j) => a + j.finishedOn! - j.processedOn!, 0) / done.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [url, sweep] = process.argv.slice(2);
  const t = parseQueueUrl(url!);
  await checkReachable(t);
  const { Queue } = untrustedJobClasses(await loadBullmq());
  const q = new Queue(QUEUE_NAME, { connection: connectionOptions(t) });
  const jobs = ((await q.getJobs(['completed'], 0, -1)) as Job<QueueJobData>[]).filter((j) => sweepOf(j) === sweep);
  const o = overhead(jobs);
  const g = [...o.gapsMs].sort((a, b) => a - b);
  console.log(`${o.jobs} jobs on ${o.workers} workers in ${o.wallSeconds.toFixed(1)} s (mean job ${(o.meanRunMs / 1000).toFixed(2)} s); ` +
    `end-of-job → next start: median ${g[g.length >> 1]} ms, max ${g.at(-1)} ms, mean ${(g.reduce((a, b) => a + b, 0) / g.length).toFixed(1)} ms over ${g.length} hand-overs`);
  await q.close();
}
