// Jobs read back from Redis are untrusted input: another tool, another earlyphase version, a write
// cut off, or a Redis that lost part of its data can leave a job hash whose fields are not JSON or
// whose data is not a sweep job. BullMQ parses a job's fields with JSON.parse wherever it reads one
// (Job.fromJSON), so a single such hash made every `queue status` throw, and a worker that took it
// died inside BullMQ before our code ran, leaving the job active and stalled, retried forever.
// Here BullMQ's Queue and Worker read jobs through a Job class that never throws on them: such a
// job comes back with `data` = { [UNREADABLE]: why }. `jobProblem` names what is wrong with a
// job's data in one line (or returns null); the worker fails such a job at once with that reason,
// and the queue commands list it instead of crashing.
import type { Job, JobJsonRaw, MinimalQueue } from 'bullmq';
import type { Bullmq } from './connection.ts';
import type { SweepJob, SweepSpec } from '../../../src/lottery/sweep.ts';

/** What a queued job carries (written by `sweep --queue`, read back as untrusted input). */
export interface QueueJobData {
  sweep: string; spec: SweepSpec; key: string; kind: SweepJob['kind']; label: string; trunk: string;
  /** The command line that enqueued the sweep: `queue status` shows it when jobs must be enqueued again. */
  command?: string;
}

/** The key under which a job whose stored fields do not parse carries why. */
export const UNREADABLE = '__earlyphase_unreadable__';

const KINDS = ['lottery', 'branch', 'instability'];

/** Fields of a job hash that BullMQ JSON.parses, and what stands in for one that does not parse. */
const PARSED_FIELDS = { data: '{}', opts: '{}', progress: '0', parent: '' } as const;

const parses = (text: string): boolean => { try { JSON.parse(text); return true; } catch { return false; } };
const excerpt = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

/** Why a job's data is not a sweep job this version can run (one line), or null when it is one. */
export function jobProblem(job: Pick<Job, 'data'>): string | null {
  const d = job.data as Record<string, unknown> | null;
  if (d !== null && typeof d === 'object' && typeof d[UNREADABLE] === 'string') return d[UNREADABLE] as string;
  if (d === null || typeof d !== 'object' || Array.isArray(d)) return `its data is ${d === null ? 'null' : Array.isArray(d) ? 'an array' : `a ${typeof d}`}, not a sweep job`;
  const str = (k: keyof QueueJobData) => typeof d[k] === 'string' && d[k] !== '';
  for (const k of ['sweep', 'key', 'label', 'trunk'] as const) if (!str(k)) return `its data has no "${k}" (a sweep job has sweep, spec, key, kind, label and trunk)`;
  if (!KINDS.includes(d.kind as string)) return `its data's kind is ${JSON.stringify(d.kind) ?? 'missing'}, not one of ${KINDS.join(', ')}`;
  const spec = d.spec as Record<string, unknown> | null;
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return 'its data has no sweep spec';
  if (spec.name !== d.sweep) return `its sweep spec is named ${JSON.stringify(spec.name)}, not ${JSON.stringify(d.sweep)}`;
  return null;
}

/** The sweep a job belongs to: its data's, else the first part of its id (ids are <sweep>.<kind>.<key>). */
export function sweepOf(job: Pick<Job, 'data' | 'id'>): string {
  const d = job.data as Partial<QueueJobData> | null;
  if (d && typeof d === 'object' && typeof d.sweep === 'string' && d.sweep) return d.sweep;
  return String(job.id ?? '').split('.')[0]!;
}

/** BullMQ's Queue and Worker, reading jobs that do not parse as jobs flagged UNREADABLE instead of throwing. */
export function untrustedJobClasses(b: Bullmq) {
  class TolerantJob extends b.Job {
    static override fromJSON<T = any, R = any, N extends string = string>(queue: MinimalQueue, json: JobJsonRaw, jobId?: string): Job<T, R, N> {
      const raw = json as unknown as Record<string, string | undefined>;
      const bad = (Object.keys(PARSED_FIELDS) as (keyof typeof PARSED_FIELDS)[]).filter((f) => raw[f] && !parses(raw[f]!));
      if (!bad.length) return super.fromJSON<T, R, N>(queue, json, jobId);
      const fixed = { ...raw };
      for (const f of bad) fixed[f] = PARSED_FIELDS[f];
      const job = super.fromJSON<T, R, N>(queue, fixed as unknown as JobJsonRaw, jobId);
      (job as Job).data = { [UNREADABLE]: `its ${bad.map((f) => `${f} (${excerpt(raw[f]!)})`).join(' and ')} ${bad.length > 1 ? 'are' : 'is'} not JSON` };
      return job;
    }
  }
  // The generic constructor signature of Job cannot be restated by a subclass; the cast is only that.
  const Tolerant = TolerantJob as unknown as typeof b.Job;
  class Queue extends b.Queue { protected override get Job(): typeof b.Job { return Tolerant; } }
  class Worker<D> extends b.Worker<D> { protected override get Job(): typeof b.Job { return Tolerant; } }
  return { Queue, Worker };
}
