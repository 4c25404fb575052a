// Instability analysis (linear mode connectivity, Frankle et al. ICML 2020): from a level's
// rewound weights at step k, train two copies that differ only in their data order, then evaluate
// the test error along the straight line between the two trained networks (weights and batch-norm
// statistics interpolated, pruned weights staying 0). The error barrier is the largest rise of the
// error above the mean of the two endpoints; ≈ 0 means the network was already "stable" at k.
import { UserError } from '../errors.ts';
import { canonicalJSON, sha256Hex } from '../io/digest.ts';
import { trainRuns, type PackOptions } from '../train/trainer.ts';
import { WeightsEvaluator } from '../train/evaluator.ts';
import type { HostState } from '../train/checkpoint.ts';
import type { Hparams } from '../train/hparams.ts';
import { maskedState, planLottery, type LotteryEnv, type LotteryJob } from './lottery.ts';
import { trunkFor } from './branch.ts';

export interface InstabilityJob extends LotteryJob {
  level: number;
  /** Evaluation points on the line, endpoints included (≥ 2). */
  points: number;
  /** Data-order seeds of the two copies; equal seeds make identical copies (barrier 0: a sanity check). */
  seeds: [number, number];
}

export interface InstabilityResult {
  level: number;
  alphas: number[];
  /** Test error (1 − accuracy) at each alpha. */
  errors: number[];
  barrier: number;
  dir: string;
}

/** max over the line of error(α) − the mean of the endpoint errors (0 when the path never rises). */
export function errorBarrier(errors: readonly number[]): number {
  const ends = (errors[0]! + errors.at(-1)!) / 2;
  return Math.max(0, ...errors.map((e) => e - ends));
}

export function interpolate(a: HostState, b: HostState, alpha: number): HostState {
  const mix = (x: Float32Array, y: Float32Array) => x.map((v, i) => (1 - alpha) * v + alpha * y[i]!);
  return { params: mix(a.params, b.params), stats: mix(a.stats, b.stats) };
}

/**
 * The analysis folder: everything that changes instability.json is in its hash (the two copies'
 * data orders and the number of points on the line), so a second analysis with other options
 * gets its own folder instead of overwriting the first one's result.
 */
export function instabilityDir(root: string, job: Pick<InstabilityJob, 'level' | 'seeds' | 'points'>): string {
  const hash = sha256Hex(canonicalJSON({ seeds: job.seeds, points: job.points })).slice(0, 10);
  return `${root}/level_${job.level}/instability_${hash}`;
}

export async function runInstability(env: LotteryEnv, job: InstabilityJob, o: PackOptions = {}): Promise<InstabilityResult> {
  if (!Number.isInteger(job.points) || job.points < 2) throw new UserError(`--points must be an integer ≥ 2, got ${job.points}`);
  const plan = planLottery(job, env.data, env.pretrainData);
  const { mask, wk } = await trunkFor(env, plan, job.level);
  const dir = instabilityDir(plan.root, job);
  const withSeed = (seed: number): Hparams => ({ ...job.hparams, training: { ...job.hparams.training, data_order_seed: seed } });
  // The two copies start alike and differ only in data order: with o.pack ≥ 2 they train as one pack.
  const copies = job.seeds.map((seed, i) => ({
    run: `${plan.root}/level_${job.level}/instability copy ${i + 1}`, dir: `${dir}/copy_${i + 1}`, hparams: withSeed(seed),
    replicate: job.replicate, data: env.data, init: maskedState(wk, mask), mask, startIteration: plan.rewindIteration, evaluateOnlyAtEnd: true, control: job.control,
  }));
  const finals: HostState[] = [];
  for (const r of await trainRuns(env.gpu, env.storage, env.sink, copies, o)) {
    if ('error' in r) throw r.error;
    finals.push(r.final);
  }
  const evaluator = new WeightsEvaluator(env.gpu, plan.spec, job.hparams, env.data, job.replicate);
  const alphas: number[] = [], errors: number[] = [];
  try {
    for (let p = 0; p < job.points; p++) {
      const alpha = p / (job.points - 1);
      const { accuracy } = await evaluator.evaluate(interpolate(finals[0]!, finals[1]!, alpha));
      alphas.push(alpha); errors.push(1 - accuracy);
    }
  } finally {
    evaluator.destroy();
  }
  const barrier = errorBarrier(errors);
  await env.storage.write(`${dir}/instability.json`, JSON.stringify({ level: job.level, seeds: job.seeds, points: job.points, alphas, errors, barrier }, null, 2) + '\n');
  return { level: job.level, alphas, errors, barrier, dir };
}
