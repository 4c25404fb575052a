// Training runs: the run-folder state machine around a TrainPack (src/train/train-pack.ts).
// Used by `earlyphase train` and by every lottery level and branch. It skips a finished run,
// resumes from a checkpoint (src/train/run-open.ts) and groups the runs that can train in
// lockstep; the loop itself is src/train/lockstep.ts, each run's side of it (saves, evaluation,
// metrics, telemetry, events) src/train/member-run.ts, and the step (gather + augment → forward →
// loss → backward → masked SGD or Adam, one submit) is the pack's. A pack trains several runs in
// lockstep, each exactly as it would train alone, so one loop serves one run and many. State is
// checkpointed at every epoch end (weights, optimiser state, BN statistics, metrics), so a killed
// run resumes from the last epoch boundary and ends bitwise-identical to an uninterrupted one.
import type { Gpu } from '../gpu/gpu.ts';
import { UserError } from '../errors.ts';
import type { RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import { canonicalJSON } from '../io/digest.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { packKey } from './train-pack.ts';
import { openRun, type OpenRun } from './run-open.ts';
import { trainLockstep } from './lockstep.ts';
import type { PackOutcome, TrainJob, TrainResult } from './train-job.ts';

export interface PackOptions {
  /** Runs per pack at most (default 1: each run alone). Runs share a pack only when they can train in lockstep. */
  pack?: number;
}

/** Trains one run; a finished one is reported from its files. */
export async function train(gpu: Gpu, storage: RunStorage, sink: EventSink, job: TrainJob): Promise<TrainResult> {
  const [r] = await trainRuns(gpu, storage, sink, [job]);
  if ('error' in r!) throw r.error;
  return r!;
}

/**
 * Trains several runs, `o.pack` at a time in one TrainPack where they can go in lockstep (same
 * data, model, batch size, optimiser kind and training length, and standing at the same
 * iteration: see lockstepKey). Each outcome is the run's own: one that fails or diverges does not
 * stop the others. The run folders are exactly those of training each run alone.
 */
export async function trainRuns(gpu: Gpu, storage: RunStorage, sink: EventSink, jobs: readonly TrainJob[], o: PackOptions = {}): Promise<PackOutcome[]> {
  const out: PackOutcome[] = new Array(jobs.length);
  const groups = new Map<string, { i: number; run: OpenRun }[]>();
  for (const [i, job] of jobs.entries()) {
    try {
      const r = await openRun(storage, sink, job, gpu.adapter.description);
      if ('finished' in r) { out[i] = r.finished; continue; }
      const key = lockstepKey(r.run);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push({ i, run: r.run });
    } catch (e) {
      if (jobs.length === 1 || !(e instanceof UserError)) throw e;
      out[i] = { error: e };
    }
  }
  const size = Math.max(1, Math.floor(o.pack ?? 1));
  for (const g of groups.values()) {
    for (let a = 0; a < g.length; a += size) {
      const chunk = g.slice(a, a + size);
      const results = await trainLockstep(gpu, storage, sink, chunk.map((e) => e.run));
      chunk.forEach((e, j) => { out[e.i] = results[j]!; });
    }
  }
  return out;
}

const dataIds = new WeakMap<DatasetSplits, number>();
let nextDataId = 0;
/** Runs with equal keys can share a pack: the same step shapes, and at the same point of the same schedule. */
function lockstepKey(r: OpenRun): string {
  let id = dataIds.get(r.job.data);
  if (id === undefined) { id = nextDataId++; dataIds.set(r.job.data, id); }
  return canonicalJSON({ data: id, step: packKey(r.h), spec: r.spec.name, classes: r.spec.classes, start: r.start, at: r.iteration, total: r.total, perEpoch: r.perEpoch });
}
