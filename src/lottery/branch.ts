// Branches: runs that start from a lottery level's state at the rewind point with something
// changed (OpenLTH `lottery_branch`). The weight perturbations come from branches/registry.ts;
// randomly_prune swaps the mask for a random one with the same counts; retrain trains the same
// rewound subnetwork with other training hyperparameters. Each branch run has its own hashed
// folder under the level and is skipped when done.
import { HparamsError, UserError } from '../errors.ts';
import type { Hparams } from '../train/hparams.ts';
import type { LooseSpec } from '../train/hparams/schema.ts';
import { canonicalJSON, sha256Hex } from '../io/digest.ts';
import { initRunningStats, type BatchnormInit } from '../nn/init.ts';
import { trainRuns, type PackOptions } from '../train/trainer.ts';
import type { TrainJob } from '../train/train-job.ts';
import type { HostState } from '../train/checkpoint.ts';
import { decodeMask, denseMask, density } from './mask.ts';
import { randomPrune } from './pruning.ts';
import { applyBranch, branchNames, getBranch, parseBranchOptions } from './branches/registry.ts';
import { levelDir, maskedState, planLottery, trunkWeights, type LevelResult, type LotteryEnv, type LotteryJob, type LotteryOutcome, type LotteryPlan, type TrunkEnv } from './lottery.ts';

/**
 * Branches that are not weight perturbations, with their options as field specs (so forms can
 * show them; resolveBranch checks randomly_prune's itself). retrain's flags are --retrain-<hparam>.
 */
const SPECIAL: Record<string, { description: string; options: Record<string, LooseSpec> }> = {
  randomly_prune: {
    description: 'a random mask with the same surviving count (strategy=layerwise|global), from w_k',
    options: { strategy: { kind: 'enum', values: ['layerwise', 'global'], default: 'layerwise', help: 'layerwise = the same surviving count per tensor; global = the same total count, positions drawn across all prunable tensors.' } },
  },
  retrain: { description: 'the same rewound subnetwork trained with other training hyperparameters (--retrain-<hparam> V)', options: {} },
};

/** A branch's own options (`--<option> V` on the command line), as field specs. */
export function branchOptionSpecs(name: string): Readonly<Record<string, LooseSpec>> {
  return SPECIAL[name]?.options ?? getBranch(name).options;
}

/** Takes `--<option> V` for the branch's own options (and --retrain-<hparam> V for retrain) out of argv. */
export function splitBranchArgs(name: string, argv: readonly string[]): { options: Record<string, string>; retrain: [string, string][]; rest: string[] } {
  const { branches: [b], rest } = splitBranchesArgs([name], argv);
  return { ...b!, rest };
}

/**
 * splitBranchArgs for several branches trained together (`branch A,B …`): each branch takes the
 * `--<option> V` flags it knows (a flag several of them know goes to each of them); `rest` keeps
 * what none of them takes, in order.
 */
export function splitBranchesArgs(names: readonly string[], argv: readonly string[]): { branches: { options: Record<string, string>; retrain: [string, string][] }[]; rest: string[] } {
  const known = names.map((n) => Object.keys(branchOptionSpecs(n)));
  const branches = names.map(() => ({ options: {} as Record<string, string>, retrain: [] as [string, string][] }));
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const [flag, inline] = t.includes('=') ? [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)] : [t, undefined];
    const key = flag.replace(/^--/, '').replace(/-/g, '_');
    const retrainFlag = /^--retrain[-_]/.test(flag);
    const takers = flag.startsWith('--') ? names.flatMap((n, b) => (known[b]!.includes(key) || (n === 'retrain' && retrainFlag) ? [b] : [])) : [];
    if (!takers.length) { rest.push(t); continue; }
    const value = inline ?? argv[++i];
    if (value === undefined) throw new HparamsError(`${flag} needs a value`);
    for (const b of takers) {
      if (names[b] === 'retrain' && retrainFlag) branches[b]!.retrain.push([key.replace(/^retrain_/, ''), value]);
      else branches[b]!.options[key] = value;
    }
  }
  return { branches, rest };
}

export function allBranchNames(): string[] {
  return [...branchNames(), ...Object.keys(SPECIAL)];
}

export function describeBranches(): string {
  const perturb = branchNames().map((n) => {
    const b = getBranch(n);
    const opts = Object.keys(b.options);
    return `  ${n}${opts.length ? ` (${opts.map((o) => `--${o.replace(/_/g, '-')}`).join(', ')})` : ''}: ${b.description}`;
  });
  const special = Object.entries(SPECIAL).map(([n, s]) => `  ${n}: ${s.description}`);
  return [...perturb, ...special].join('\n');
}

export interface BranchJob extends LotteryJob {
  branch: string;
  /** Option texts as given on the command line (name → value). */
  options: Record<string, string>;
  /** For `retrain`: the training hyperparameters to use instead. */
  retrain?: Hparams;
  seed: number;
  levels: number[];
}

/** Validates the branch name and options; returns the resolved options and the folder hash. */
export function resolveBranch(job: BranchJob): { options: Record<string, unknown>; hash: string } {
  let options: Record<string, unknown>;
  if (job.branch === 'randomly_prune') {
    const unknown = Object.keys(job.options).filter((k) => k !== 'strategy');
    if (unknown.length) throw new UserError(`randomly_prune has no option ${unknown.join(', ')}; it takes --strategy layerwise|global`);
    const strategy = job.options.strategy ?? 'layerwise';
    if (strategy !== 'layerwise' && strategy !== 'global') throw new UserError(`randomly_prune.strategy: expected layerwise or global, got ${JSON.stringify(strategy)}`);
    options = { strategy };
  } else if (job.branch === 'retrain') {
    if (!job.retrain) throw new UserError('retrain needs at least one --retrain-<hparam> flag, e.g. --retrain-lr 0.05');
    options = { training: job.retrain.training };
  } else {
    options = parseBranchOptions(getBranch(job.branch), job.options);
  }
  const hash = sha256Hex(canonicalJSON({ branch: job.branch, options, seed: job.seed })).slice(0, 10);
  return { options, hash };
}

/** Reads everything a branch needs from the trunk (host only); missing trunk stages are errors naming them. */
export async function trunkFor(env: TrunkEnv, plan: LotteryPlan, level: number): Promise<{ mask: Float32Array; w0: HostState; wk: HostState }> {
  const layout = plan.params.layout();
  let mask = denseMask(plan.spec, layout);
  if (level > 0) {
    const p = `${levelDir(plan, level)}/mask.safetensors`;
    const rerun = `run earlyphase lottery with the same flags and --levels ${level}, which recomputes it`;
    const bytes = await env.storage.read(p).catch((e: unknown) => {
      if (e instanceof UserError) throw new UserError(`branch at level ${level}: ${e.message}; ${rerun}`);
      throw e;
    });
    if (!bytes) throw new UserError(`branch at level ${level}: the trunk has no ${p}; ${rerun}`);
    mask = decodeMask(plan.spec, layout, bytes, p);
  }
  const { w0, wk } = await trunkWeights(env, plan);
  return { mask, w0, wk };
}

export async function runBranch(env: LotteryEnv, job: BranchJob, o: PackOptions = {}): Promise<LevelResult[]> {
  const [r] = await runBranches([{ env, job }], o);
  if ('error' in r!) throw r.error;
  return r!.rows;
}

/**
 * Runs branch jobs: every level of every job is one training run from the trunk at that level,
 * independent of the others, so all of them train together, `o.pack` at a time
 * (src/train/trainer.ts trainRuns). A run that fails fails its job; the others go on.
 */
export async function runBranches(items: readonly { env: LotteryEnv; job: BranchJob }[], o: PackOptions = {}): Promise<LotteryOutcome[]> {
  const runs: { item: number; level: number; density: number; train: TrainJob }[] = [];
  const out: LotteryOutcome[] = items.map(() => ({ rows: [] }));
  for (const [item, { env, job }] of items.entries()) {
    try {
      for (const r of await branchRuns(env, job)) runs.push({ item, ...r });
    } catch (e) {
      // A job whose trunk is missing (its lottery failed) fails alone.
      if (items.length === 1 || !(e instanceof UserError)) throw e;
      out[item] = { rows: [], error: e };
    }
  }
  const { gpu, storage, sink } = items[0]!.env;
  const outcomes = await trainRuns(gpu, storage, sink, runs.map((r) => r.train), o);
  for (const [k, r] of outcomes.entries()) {
    const { item, level, density: d, train: t } = runs[k]!;
    const slot = out[item]!;
    if ('error' in r) { if (!('error' in slot)) out[item] = { ...slot, error: r.error }; continue; }
    slot.rows.push({ level, density: d, testAccuracy: r.testAccuracy, dir: t.dir, weightsHash: r.weightsHash });
  }
  return out;
}

/** The training run of each level of a branch job, its folder's branch.json written (host only). */
async function branchRuns(env: LotteryEnv, job: BranchJob): Promise<{ level: number; density: number; train: TrainJob }[]> {
  const plan = planLottery(job, env.data, env.pretrainData);
  const { options, hash } = resolveBranch(job);
  const layout = plan.params.layout();
  const h = job.hparams;
  // Every level's trunk must exist before any training starts.
  const trunks = new Map<number, Awaited<ReturnType<typeof trunkFor>>>();
  for (const level of job.levels) trunks.set(level, await trunkFor(env, plan, level));
  const out: { level: number; density: number; train: TrainJob }[] = [];
  for (const level of job.levels) {
    const { w0, wk } = trunks.get(level)!;
    let { mask } = trunks.get(level)!;
    let init: HostState;
    let hparams = h;
    if (job.branch === 'randomly_prune') {
      mask = randomPrune(options.strategy as string, { spec: plan.spec, layout, mask, seed: job.seed, layersToIgnore: h.pruning.pruning_layers_to_ignore ?? [] });
      init = maskedState(wk, mask);
    } else if (job.branch === 'retrain') {
      hparams = job.retrain!;
      init = maskedState(wk, mask);
    } else {
      const params = applyBranch(job.branch, {
        spec: plan.spec, layout, mask, w0: w0.params, wk: wk.params, seed: job.seed, options,
        bnInit: h.model.batchnorm_init as BatchnormInit,
      });
      // A re-initialised network also starts with fresh batch-norm statistics (OpenLTH builds a new model).
      init = { params, stats: job.branch === 'randomly_reinitialize' ? initRunningStats(plan.stats) : wk.stats };
    }
    const dir = `${plan.root}/level_${level}/branch_${job.branch}_${hash}`;
    await env.storage.write(`${dir}/branch.json`, JSON.stringify({ branch: job.branch, options, seed: job.seed }, null, 2) + '\n');
    out.push({
      level, density: density(plan.spec, layout, mask),
      train: {
        run: `${plan.root}/level_${level}/${job.branch}`, dir, hparams, replicate: job.replicate, data: env.data,
        init, mask, startIteration: plan.rewindIteration, evaluateOnlyAtEnd: job.evaluateOnlyAtEnd, control: job.control,
      },
    });
  }
  return out;
}
