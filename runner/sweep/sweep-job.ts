// One sweep job (a lottery, a branch or an instability analysis) run on this machine: the driver
// shared by `earlyphase sweep` (every job in turn) and `earlyphase worker` (the jobs the queue
// hands it). Finished stages are skipped and killed ones resume from their checkpoint, so running
// a job again — after a crash, on another machine — ends with the same weights. The job's run
// folder is held by a RunLock for the whole job: two processes never write it at once.
import type { Gpu } from '../../src/gpu/gpu.ts';
import type { DatasetSplits } from '../../src/data/dataset.ts';
import type { SweepJob } from '../../src/lottery/sweep.ts';
import type { EventSink } from '../../src/train/events.ts';
import { RunControl } from '../../src/train/control.ts';
import { DEFAULT_TELEMETRY } from '../../src/train/telemetry.ts';
import { lotteryHash } from '../../src/lottery/options.ts';
import { runLotteries, runLottery, planLottery, type LevelResult } from '../../src/lottery/lottery.ts';
import { resolveBranch, runBranch, runBranches, trunkFor } from '../../src/lottery/branch.ts';
import { UserError } from '../../src/errors.ts';
import { runInstability } from '../../src/lottery/instability.ts';
import { loadDataset } from '../data/datasets.ts';
import type { FsStorage } from '../storage/fs-storage.ts';
import { RunLock } from '../storage/run-lock.ts';

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
    onWait: (_h, message) => o.log(`${j.label}: ${message}`),
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

/** A job's outcome when a sweep runs its jobs together: its result, or what stopped it. */
export type PackedJobOutcome = JobOutcome | { error: unknown };

/**
 * Runs a sweep's jobs with packing (`sweep --pack`): every lottery level by level in lockstep,
 * `pack` networks per TrainPack (replicates, and rewind points where their runs line up), then
 * every level of every branch together, then the instability analyses one by one (the two copies
 * of each as one pack). The folders are
 * exactly those of running the jobs one at a time, so packed and unpacked sweeps continue each
 * other. All the jobs' locks are held for the whole time (taken in path order, so two packed
 * sweeps never wait on each other in a cycle). A job that fails stops alone.
 */
export async function runSweepJobsPacked(env: JobEnv, jobs: readonly SweepJob[], pack: number, o: JobOptions): Promise<PackedJobOutcome[]> {
  const control = o.control ?? new RunControl();
  const locks: RunLock[] = [];
  const out: PackedJobOutcome[] = new Array(jobs.length);
  try {
    for (const path of [...new Set(jobs.map(jobLockPath))].sort()) {
      locks.push(await RunLock.acquire(`${env.storage.root}/${path}`, {
        label: o.owner, wait: true,
        onWait: (_h, message) => o.log(message),
        onLost: (by) => { o.log(`${by?.owner ?? 'another process'} took over ${path}; stopping`); control.stop(); },
      }));
    }
    const base = { gpu: env.gpu, storage: env.storage, sink: env.sink };
    const idx = (kind: SweepJob['kind']) => jobs.flatMap((j, i) => (j.kind === kind ? [i] : []));
    const lotteries = idx('lottery');
    if (lotteries.length) {
      const items = [];
      for (const i of lotteries) {
        const j = jobs[i] as SweepJob & { kind: 'lottery' };
        items.push({ env: { ...base, ...(await jobData(env, j)) }, job: { ...j, control, telemetry: j.withTelemetry ? DEFAULT_TELEMETRY : undefined } });
      }
      (await runLotteries(items, { pack })).forEach((r, k) => { out[lotteries[k]!] = 'error' in r ? { error: r.error } : { rows: r.rows }; });
    }
    const branches = idx('branch');
    if (branches.length) {
      const items = [];
      for (const i of branches) {
        const j = jobs[i] as SweepJob & { kind: 'branch' };
        items.push({ env: { ...base, ...(await jobData(env, j)) }, job: { ...j, control, maxLevel: Math.max(...j.levels) } });
      }
      (await runBranches(items, { pack })).forEach((r, k) => { out[branches[k]!] = 'error' in r ? { error: r.error } : { rows: r.rows }; });
    }
    for (const i of idx('instability')) {
      const j = jobs[i] as SweepJob & { kind: 'instability' };
      try {
        const r = await runInstability({ ...base, ...(await jobData(env, j)) }, { ...j, control, maxLevel: j.level, seeds: instabilitySeeds(j) }, { pack });
        out[i] = { barrier: r.barrier, level: r.level };
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        out[i] = { error: e };
      }
    }
    return out;
  } finally {
    for (const l of locks) await l.release();
  }
}
