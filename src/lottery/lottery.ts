// Iterative magnitude pruning with rewinding (Frankle & Carbin, ICLR 2019; rewinding to step k as in
// Frankle, Schwab & Morcos, "The Early Phase of Neural Network Training", ICLR 2020), on top of the training driver.
// Level 0 trains the dense network from step 0 (or from pre-trained weights) to T and saves w_k;
// level L prunes `pruning_fraction` of the weights level L−1 kept (by magnitude of its final
// weights), rewinds the survivors and every non-prunable tensor to w_k, and trains k → T with
// zero momentum and the schedule continued from k. Every stage lives in its own folder and is
// skipped when done, so a killed lottery continues where it stopped.
import type { Gpu } from '../gpu/gpu.ts';
import { Arena } from '../gpu/tensor.ts';
import { UserError } from '../errors.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import type { Hparams } from '../train/hparams.ts';
import { parameters, type ModelSpec } from '../nn/graph.ts';
import { modelForData } from '../nn/zoo.ts';
import { initParameters, type BatchnormInit } from '../nn/init.ts';
import { buffers } from '../nn/graph.ts';
import { taskClasses } from '../train/device-data.ts';
import { trainRuns, type PackOptions } from '../train/trainer.ts';
import { iterationsFor } from '../train/run-plan.ts';
import type { TrainJob, TrainResult } from '../train/train-job.ts';
import { readOrDiscard, weightsFileName } from '../train/run-files.ts';
import { stepToIterations } from '../train/steps.ts';
import { decodeWeights, type HostState } from '../train/checkpoint.ts';
import type { RunStorage } from '../train/storage.ts';
import type { EventSink } from '../train/events.ts';
import type { TelemetryOptions } from '../train/telemetry.ts';
import type { RunControl } from '../train/control.ts';
import { denseMask, density, encodeMask } from './mask.ts';
import { prune } from './pruning.ts';
import { sparsityReport } from './sparsity.ts';
import { lotteryHash, type LotteryOptions } from './options.ts';

export interface LotteryEnv {
  gpu: Gpu;
  storage: RunStorage;
  sink: EventSink;
  data: DatasetSplits;
  /** The pre-training task's data, when it uses another dataset. */
  pretrainData?: DatasetSplits;
}

/** What reading the trunk from disk needs (no GPU): commands check it before opening one. */
export type TrunkEnv = Pick<LotteryEnv, 'storage' | 'sink'>;

export interface LotteryJob {
  hparams: Hparams;
  lottery: LotteryOptions;
  replicate: number;
  /** Highest level to run; levels 0…maxLevel all run (each needs the previous one's weights). */
  maxLevel: number;
  evaluateOnlyAtEnd?: boolean;
  /** Early-training telemetry in every level's training run. */
  telemetry?: TelemetryOptions;
  /** Pause/stop shared by every training run of the job (the browser tab). */
  control?: RunControl;
}

export interface LevelResult { level: number; density: number; testAccuracy: number | null; dir: string; weightsHash: string }

/** Everything about a lottery that is known before any GPU work: folders, k, layouts. */
export interface LotteryPlan {
  root: string;
  spec: ModelSpec;
  /** Parameter and BN-statistics layouts, as the trainer's arenas lay them out. */
  params: Arena;
  stats: Arena;
  perEpoch: number;
  total: number;
  /** Where level 0 starts: 0, or the pre-training length P when pre-training counts against the budget. */
  level0Start: number;
  /** k: where levels ≥ 1 start, rewound to level 0's weights at k (with pre-training: level0Start). */
  rewindIteration: number;
}

export function planLottery(job: LotteryJob, data: DatasetSplits, pretrainData: DatasetSplits = data): LotteryPlan {
  const h = job.hparams;
  const spec = modelForData(h.model.model_name, data.train, taskClasses(h, data.train.classes));
  const params = new Arena('params'), stats = new Arena('bn_stats');
  for (const p of parameters(spec.layers)) params.add(p.name, p.shape);
  for (const b of buffers(spec.layers)) stats.add(b.name, b.shape);
  const { perEpoch, total } = iterationsFor(h, data.train.count);
  const k = stepToIterations(job.lottery.rewindingSteps, perEpoch, '--rewinding-steps');
  if (k > total) throw new UserError(`--rewinding-steps ${job.lottery.rewindingSteps} (${k} iterations) is past the end of training (${h.training.training_steps} = ${total} iterations)`);
  let start = 0;
  if (job.lottery.pretrain) {
    if (k !== 0) throw new UserError('--pretrain makes the pre-trained weights the rewind point; do not also give --rewinding-steps');
    const [a, b] = [data.train, pretrainData.train];
    if (a.channels !== b.channels || a.height !== b.height || a.width !== b.width) {
      throw new UserError(`pre-training on ${b.name} (${b.channels}×${b.height}×${b.width} images) cannot feed a network for ${a.name} (${a.channels}×${a.height}×${a.width}); pre-train on images of the same shape`);
    }
    if (job.lottery.pretrain.countsAgainstBudget) {
      const ph = job.lottery.pretrain.hparams;
      const p = iterationsFor(ph, pretrainData.train.count).total;
      // Pre-training steps are counted in the main task's iterations (OpenLTH: same step budget).
      start = Math.min(p, total);
      if (p >= total) throw new UserError(`pre-training (${ph.training.training_steps}) uses the whole training budget (${h.training.training_steps}); shorten it or pass --pretrain-counts-against-budget=false`);
    }
  }
  if (!Number.isInteger(job.maxLevel) || job.maxLevel < 0) throw new UserError(`levels must be non-negative integers, got ${job.maxLevel}`);
  const root = `lottery_${lotteryHash(h, job.lottery)}/replicate_${job.replicate}`;
  return { root, spec, params, stats, perEpoch, total, level0Start: start, rewindIteration: job.lottery.pretrain ? start : k };
}

export const levelDir = (plan: LotteryPlan, level: number) => `${plan.root}/level_${level}/main`;

/** Applies a mask to a weight state: pruned weights 0, everything else (incl. BN statistics) as given. */
export function maskedState(s: HostState, mask: Float32Array): HostState {
  return { params: s.params.map((v, i) => (mask[i] === 0 ? 0 : v)), stats: s.stats };
}

/** Reads a weights file of the run; a missing or corrupt one is an error naming it and what to run. */
export async function readWeights(env: TrunkEnv, plan: LotteryPlan, iteration: number, what: string): Promise<HostState> {
  const path = `${levelDir(plan, 0)}/${weightsFileName(iteration, plan.perEpoch)}`;
  const w = await readOrDiscard(env.storage, path, env.sink, plan.root, (b) => decodeWeights(b, path, plan.params, plan.stats, iteration));
  if (!w) throw new UserError(`${what} (${path}) is missing; run earlyphase lottery with the same options, which recomputes it`);
  return w;
}

/** w_0 and w_k: level 0's weights at its start and at the rewind point (saved once, reused by every level and branch). */
export async function trunkWeights(env: TrunkEnv, plan: LotteryPlan): Promise<{ w0: HostState; wk: HostState }> {
  const w0 = await readWeights(env, plan, plan.level0Start, 'the level-0 starting weights w_0');
  const wk = plan.rewindIteration === plan.level0Start ? w0
    : await readWeights(env, plan, plan.rewindIteration, 'the rewind point w_k');
  return { w0, wk };
}

export async function runLottery(env: LotteryEnv, job: LotteryJob): Promise<LevelResult[]> {
  const [r] = await runLotteries([{ env, job }]);
  if ('error' in r!) throw r.error;
  return r!.rows;
}

/** Where one lottery of runLotteries stands. */
interface LotteryProgress {
  env: LotteryEnv;
  job: LotteryJob;
  plan: LotteryPlan;
  rows: LevelResult[];
  /** What stopped it (null: still going). */
  error: unknown;
  /** The current level's mask; the previous level's result; w_k once read; level 0's start after pre-training. */
  mask: Float32Array;
  prev: TrainResult | null;
  wk: HostState | null;
  init: HostState | undefined;
}

/** A lottery's outcome among several: the levels it finished, and the error that stopped it, if one did. */
export type LotteryOutcome = { rows: LevelResult[] } | { rows: LevelResult[]; error: unknown };

/**
 * Runs several lotteries level by level in lockstep: level L of every lottery trains in packs of
 * up to `o.pack` networks (src/train/trainer.ts trainRuns), each pruned by its own weights, then
 * level L+1. Every run folder is exactly what running the lotteries one by one writes. A lottery
 * that fails (its run diverged, a file it needs is unusable) stops alone; the others go on.
 */
export async function runLotteries(items: readonly { env: LotteryEnv; job: LotteryJob }[], o: PackOptions = {}): Promise<LotteryOutcome[]> {
  const lotteries: LotteryProgress[] = [];
  for (const { env, job } of items) {
    const plan = planLottery(job, env.data, env.pretrainData);
    // The rewind point and the schedule it was resolved against, in a file of the lottery's own.
    await ensureFile(env, plan, `${plan.root}/lottery.json`, new TextEncoder().encode(lotteryRecord(job, plan)), 'this lottery\'s rewind point');
    lotteries.push({
      env, job, plan, rows: [], error: null, mask: denseMask(plan.spec, plan.params.layout()), prev: null, wk: null, init: undefined,
    });
  }
  const gpu = items[0]!.env.gpu;
  /** Trains one run per lottery in `ls` (packed), recording each outcome; a failure stops its lottery. */
  const trainEach = async (ls: LotteryProgress[], make: (l: LotteryProgress) => TrainJob | Promise<TrainJob>, done: (l: LotteryProgress, r: TrainResult) => void) => {
    const jobs: TrainJob[] = [], owners: LotteryProgress[] = [];
    for (const l of ls) {
      try {
        jobs.push(await make(l));
        owners.push(l);
      } catch (e) {
        if (items.length === 1 || !(e instanceof UserError)) throw e;
        l.error = e;
      }
    }
    const env = items[0]!.env;
    const outcomes = await trainRuns(gpu, env.storage, env.sink, jobs, o);
    for (const [k, r] of outcomes.entries()) {
      const l = owners[k]!;
      if ('error' in r) l.error = r.error;
      else done(l, r);
    }
  };
  const running = () => lotteries.filter((l) => l.error === null);

  // Level 0's starting weights: the seeded initialisation, or the pre-trained network.
  await trainEach(running().filter((l) => l.job.lottery.pretrain), (l) => pretrainJob(l.env, l.job, l.plan), (l, r) => { l.init = pretrainedInit(l.env, l.job, l.plan, r); });
  const top = Math.max(...lotteries.map((l) => l.job.maxLevel));
  for (let level = 0; level <= top; level++) {
    await trainEach(running().filter((l) => level <= l.job.maxLevel), async (l) => {
      const { env, job, plan } = l;
      if (level > 0) {
        l.mask = await levelMask(env, plan, level, l.prev!.final, l.mask, job.hparams);
        l.wk ??= (await trunkWeights(env, plan)).wk;
      } else {
        // OpenLTH writes the dense level's mask and sparsity report too; scripts look for them.
        await writeMaskFiles(env, plan, 0, l.mask, 'the dense mask of level 0');
      }
      return {
        run: `${plan.root}/level_${level}`, dir: levelDir(plan, level), hparams: job.hparams, replicate: job.replicate, data: env.data,
        init: level === 0 ? l.init : maskedState(l.wk!, l.mask),
        mask: l.mask, startIteration: level === 0 ? plan.level0Start : plan.rewindIteration, evaluateOnlyAtEnd: job.evaluateOnlyAtEnd, telemetry: job.telemetry, control: job.control,
        saveIterations: level === 0 && plan.rewindIteration > plan.level0Start ? [plan.rewindIteration] : [],
      };
    }, (l, r) => {
      l.prev = r;
      l.rows.push({ level, density: density(l.plan.spec, l.plan.params.layout(), l.mask), testAccuracy: r.testAccuracy, dir: levelDir(l.plan, level), weightsHash: r.weightsHash });
    });
  }
  return lotteries.map((l) => (l.error === null ? { rows: l.rows } : { rows: l.rows, error: l.error }));
}

/**
 * Level L's mask: pruning level L−1's final weights, always recomputed (cheap, host only) — so a
 * mask.safetensors that is valid but wrong (all zeros, all ones, another level's) is never used.
 * The mask and its sparsity report are rewritten when the files on disk differ from it.
 */
async function levelMask(env: LotteryEnv, plan: LotteryPlan, level: number, prevFinal: HostState, prevMask: Float32Array, h: Hparams): Promise<Float32Array> {
  const layout = plan.params.layout();
  const ignore = h.pruning.pruning_layers_to_ignore ?? [];
  const mask = prune(h.pruning.pruning_strategy, { spec: plan.spec, layout, weights: prevFinal.params, mask: prevMask, fraction: h.pruning.pruning_fraction, layersToIgnore: ignore, exactCount: h.pruning.pruning_exact_count });
  await writeMaskFiles(env, plan, level, mask, `what pruning level ${level - 1}'s final weights gives`);
  return mask;
}

/** A level's mask.safetensors and sparsity_report.json, (re)written unless they already hold `mask`. */
async function writeMaskFiles(env: TrunkEnv, plan: LotteryPlan, level: number, mask: Float32Array, what: string): Promise<void> {
  const dir = levelDir(plan, level);
  const layout = plan.params.layout();
  await ensureFile(env, plan, `${dir}/sparsity_report.json`, new TextEncoder().encode(JSON.stringify(sparsityReport(plan.spec, layout, mask), null, 2) + '\n'), what);
  await ensureFile(env, plan, `${dir}/mask.safetensors`, encodeMask(plan.spec, layout, mask, 'U8', { level: String(level) }), what);
}

/** lottery.json: the rewind point k (as given and in iterations) and what it was resolved against. */
export function lotteryRecord(job: LotteryJob, plan: LotteryPlan): string {
  return JSON.stringify({
    rewinding_steps: job.lottery.pretrain ? null : job.lottery.rewindingSteps,
    rewind_iteration: plan.rewindIteration,
    rewind_to: job.lottery.pretrain ? 'the pre-trained weights' : 'w_k of level 0',
    level0_start_iteration: plan.level0Start,
    iterations_per_epoch: plan.perEpoch,
    total_iterations: plan.total,
    pruning: { strategy: job.hparams.pruning.pruning_strategy, fraction: job.hparams.pruning.pruning_fraction },
  }, null, 2) + '\n';
}

/** Makes the file at `p` hold exactly `bytes` (derived data): kept when it does, else (re)written, saying why. */
async function ensureFile(env: TrunkEnv, plan: LotteryPlan, p: string, bytes: Uint8Array, what: string): Promise<void> {
  const old = await readOrDiscard(env.storage, p, env.sink, plan.root, (b) => b);
  if (old && old.length === bytes.length && old.every((v, i) => v === bytes[i])) return;
  if (old) env.sink({ type: 'log', run: plan.root, message: `${p} does not hold ${what}; rewriting it` });
  await env.storage.write(p, bytes);
}

/** The pre-training run: the dense network trained on the pre-training task. */
function pretrainJob(env: LotteryEnv, job: LotteryJob, plan: LotteryPlan): TrainJob {
  return {
    run: `${plan.root}/pretrain`, dir: `${plan.root}/pretrain/main`, hparams: job.lottery.pretrain!.hparams, replicate: job.replicate,
    data: env.pretrainData ?? env.data, evaluateOnlyAtEnd: job.evaluateOnlyAtEnd, control: job.control,
  };
}

/**
 * Level 0's start after pre-training: the pre-trained network, with (when its output layer has
 * another size, e.g. the 4-way rotation head) the output layer replaced by a fresh draw of the
 * real task's head. The result is level 0's starting point and the rewind point of every level.
 */
function pretrainedInit(env: LotteryEnv, job: LotteryJob, plan: LotteryPlan, r: TrainResult): HostState {
  const ph = job.lottery.pretrain!.hparams;
  const data = env.pretrainData ?? env.data;
  const pre = modelForData(ph.model.model_name, data.train, taskClasses(ph, data.train.classes));
  if (pre.classes === plan.spec.classes) return r.final;
  // Copy every tensor but the head; the head is the seeded initialisation of the real task's.
  const fresh = initParameters(plan.spec, plan.params, job.replicate, job.hparams.model.batchnorm_init as BatchnormInit);
  const preLayout = new Arena('pre');
  for (const p of parameters(pre.layers)) preLayout.add(p.name, p.shape);
  const out = fresh.slice();
  const src = new Map(preLayout.layout().map((e) => [e.name, e]));
  for (const e of plan.params.layout()) {
    if (e.name.startsWith('fc.')) continue;
    const s = src.get(e.name)!;
    const n = e.shape.reduce((a, b) => a * b, 1);
    out.set(r.final.params.subarray(s.offset, s.offset + n), e.offset);
  }
  return { params: out, stats: r.final.stats };
}
