// One sweep job (a lottery, a branch or an instability analysis) run on this machine: the driver
// shared by `earlyphase sweep` (every job in turn) and `earlyphase worker` (the jobs the queue
// hands it). Finished stages are skipped and killed ones resume from their checkpoint, so running
// a job again — after a crash, on another machine — ends with the same weights. The job's run
// folder is held by a RunLock for the whole job: two processes never write it at once.
import type { Gpu } from '../src/gpu/gpu.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import type { SweepJob } from '../src/lottery/sweep.ts';
import type { EventSink } from '../src/train/events.ts';
import { RunControl } from '../src/train/control.ts';
import { DEFAULT_TELEMETRY } from '../src/train/telemetry.ts';
import { lotteryHash } from '../src/lottery/options.ts';
import { runLottery, planLottery, type LevelResult } from '../src/lottery/lottery.ts';
import { resolveBranch, runBranch, trunkFor } from '../src/lottery/branch.ts';
import { runInstability } from '../src/lottery/instability.ts';
import { loadDataset } from './datasets.ts';
import type { FsStorage } from './fs-storage.ts';
import { RunLock } from './run-lock.ts';

export interface JobEnv {
  gpu: Gpu;
  storage: FsStorage;
  sink: EventSink;
  data: (name: string) => Promise<DatasetSplits>;
}

/** Loads each dataset once per process. */
export function datasetCache(dataDir?: string): (name: string) => Promise<DatasetSplits> {
  const cache = new Map<string, Promise<DatasetSplits>>();
  return (name) => {
    if (!cache.has(name)) cache.set(name, loadDataset(name, { dataDir, log: console.error }).catch((e) => { cache.delete(name); throw e; }));
    return cache.get(name)!;
  };
}

export async function jobData(env: Pick<JobEnv, 'data'>, j: SweepJob): Promise<{ data: DatasetSplits; pretrainData?: DatasetSplits }> {
  return {
    data: await env.data(j.hparams.dataset.dataset_name),
    pretrainData: j.lottery.pretrain ? await env.data(j.lottery.pretrain.hparams.dataset.dataset_name) : undefined,
  };
}

/** The trunk folder of a job (lottery_<hash>/replicate_<r>), known without data or GPU. */
export const trunkFolder = (j: SweepJob) => `lottery_${lotteryHash(j.hparams, j.lottery)}/replicate_${j.replicate}`;

/** The data-order seeds of an instability job's two copies. */
export const instabilitySeeds = (j: SweepJob & { kind: 'instability' }): [number, number] => [j.replicate, j.replicate + 1_000_003];

/** Where the lock of the folders a job writes lives (relative to the runs root). */
export function jobLockPath(j: SweepJob): string {
  const t = trunkFolder(j);
  if (j.kind === 'lottery') return `${t}/.lock-lottery`;
  if (j.kind === 'branch') return `${t}/.lock-branch_${j.branch}_${resolveBranch({ ...j, maxLevel: Math.max(...j.levels) }).hash}`;
  return `${t}/level_${j.level}/.lock-instability_${instabilitySeeds(j).join('_')}`;
}

export type JobOutcome = { rows: LevelResult[] } | { barrier: number; level: number };

export interface JobOptions {
  /** Names this process in lock files ("sweep", "worker gpu0"). */
  owner: string;
  /** Stops the job between steps (SIGTERM on a worker); also stopped when the lock is lost. */
  control?: RunControl;
  log: (line: string) => void;
}

export async function runSweepJob(env: JobEnv, j: SweepJob, o: JobOptions): Promise<JobOutcome> {
  const control = o.control ?? new RunControl();
  const lock = await RunLock.acquire(`${env.storage.root}/${jobLockPath(j)}`, {
    label: o.owner, wait: true,
    onWait: (h) => o.log(`${j.label}: waiting for ${trunkFolder(j)}, which ${h.owner} is writing`),
    onLost: (by) => { o.log(`${j.label}: ${by?.owner ?? 'another process'} took over the run folder; stopping`); control.stop(); },
  });
  try {
    const env2 = { gpu: env.gpu, storage: env.storage, sink: env.sink, ...(await jobData(env, j)) };
    if (j.kind === 'lottery') {
      return { rows: await runLottery(env2, { ...j, control, telemetry: j.withTelemetry ? DEFAULT_TELEMETRY : undefined }) };
    }
    if (j.kind === 'branch') {
      const plan = planLottery({ ...j, maxLevel: Math.max(...j.levels) }, env2.data, env2.pretrainData);
      for (const l of j.levels) await trunkFor(env2, plan, l);
      return { rows: await runBranch(env2, { ...j, control, maxLevel: Math.max(...j.levels) }) };
    }
    const r = await runInstability(env2, { ...j, control, maxLevel: j.level, seeds: instabilitySeeds(j) });
    return { barrier: r.barrier, level: r.level };
  } finally {
    await lock.release();
  }
}
