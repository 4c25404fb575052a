// `earlyphase branch NAME[,NAME…]` (also `lottery_branch`): branches at the given levels of an
// existing lottery. Several comma-separated names train together: every level of every branch is
// one run, and all of them go through one runBranches call (packed with --pack), each folder as
// the branch run alone writes it. The trunk (masks, w_0, w_k) is read and checked, and every
// branch's options resolved, before the GPU is touched.
import { HparamsError, UserError } from '../../src/errors.ts';
import { hparamsWithOverrides, parseLotteryArgv } from '../../src/lottery/options.ts';
import { allBranchNames, branchOptionSpecs, describeBranches, splitBranchesArgs, type BranchJob } from '../../src/lottery/branch.ts';
import { parseLevels } from '../../src/lottery/levels.ts';
import { tensorSeed } from '../../src/nn/init.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { loadDataset } from '../data/datasets.ts';
import { openGpu } from '../host/dawn.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { terminalSink } from './progress.ts';
import { checkRunsFit } from '../host/capacity.ts';
import { lockForCommand, type RunLock } from '../storage/run-lock.ts';
import { RunControl } from '../../src/train/control.ts';
import { formatLevels } from './lottery-command.ts';
import { parsePack, resolvePack } from '../host/pack-size.ts';

export interface BranchCommand {
  /** One branch name, or several separated by commas (trained together). */
  name: string; root: string; replicate: number; dataDir?: string; levels: string; seed?: number; evaluateOnlyAtEnd?: boolean; quiet?: boolean;
  /** Runs per pack ("4", "auto"): the levels of every named branch train together; default: one at a time. */
  pack?: string;
  adapter?: string; argv: string[];
}

/** The branch names of `A,B,…`: each known, none twice. */
export function parseBranchNames(text: string): string[] {
  const names = text.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) throw new UserError(`branch names ${JSON.stringify(text)}: an empty name; give NAME or NAME,NAME,… (earlyphase branch list shows them)`);
  for (const n of names) {
    if (!allBranchNames().includes(n)) throw new UserError(`unknown branch ${JSON.stringify(n)}; branches:\n${describeBranches()}`);
  }
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length) throw new UserError(`branch ${[...new Set(twice)].join(', ')} is named more than once in ${text}; each branch trains once per level`);
  return names;
}

const flagsOf = (name: string) => {
  const opts = Object.keys(branchOptionSpecs(name)).map((o) => `--${o.replace(/_/g, '-')}`);
  if (name === 'retrain') opts.push('--retrain-<hparam>');
  return `${name} ${opts.length ? opts.join(', ') : 'none'}`;
};

export async function runBranchCommand(o: BranchCommand): Promise<void> {
  const names = parseBranchNames(o.name);
  const { branches, rest: lotteryArgs } = splitBranchesArgs(names, o.argv);
  const { hparams, lottery, rest } = parseLotteryArgv(lotteryArgs);
  if (rest.length) {
    const what = `unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')}`;
    throw new HparamsError(names.length === 1 ? `${what} for branch ${names[0]}`
      : `${what} for branches ${names.join(', ')}: no option of theirs (${names.map(flagsOf).join('; ')}) and no training or lottery flag (see earlyphase branch --help)`);
  }
  const levels = parseLevels(o.levels, 'only');
  const pack = o.pack ? parsePack(o.pack) : 1;
  const data = await loadDataset(hparams.dataset.dataset_name, { dataDir: o.dataDir, log: console.error });
  const pre = lottery.pretrain?.hparams.dataset.dataset_name;
  const pretrainData = pre && pre !== hparams.dataset.dataset_name ? await loadDataset(pre, { dataDir: o.dataDir, log: console.error }) : undefined;
  const storage = new FsStorage(o.root);
  const sink = terminalSink({ quiet: o.quiet });
  // Each branch keeps the seed it has when run alone (derived from the replicate and its name), so
  // its folder is the same; --seed sets the seed of every named branch.
  const jobs: BranchJob[] = names.map((name, i) => {
    const { options, retrain } = branches[i]!;
    return {
      hparams, lottery, replicate: o.replicate, maxLevel: Math.max(...levels), levels, evaluateOnlyAtEnd: o.evaluateOnlyAtEnd,
      branch: name, options, retrain: retrain.length ? hparamsWithOverrides(hparams, retrain) : undefined,
      seed: o.seed ?? tensorSeed(o.replicate, `branch:${name}`), control: new RunControl(),
    };
  });
  // Resolve options and read the whole trunk before opening the GPU: bad input fails fast. The
  // branches share the trunk (the same lottery, replicate and levels).
  const { planLottery } = await import('../../src/lottery/lottery.ts');
  const { resolveBranch, runBranches, trunkFor } = await import('../../src/lottery/branch.ts');
  const plan = planLottery(jobs[0]!, data, pretrainData);
  const hashes = jobs.map((job) => resolveBranch(job).hash);
  for (const l of levels) await trunkFor({ storage, sink }, plan, l);
  const batches = [...new Set(jobs.map((j) => (j.retrain ?? hparams).dataset.batch_size))];
  await checkRunsFit(batches.map((batch) => ({ spec: plan.spec, batch })), o.adapter);
  // One lock per branch, the path a sweep job uses too, taken in path order (as packed sweep jobs take theirs).
  const wanted = jobs.map((job, i) => ({ path: `${plan.root}/.lock-branch_${job.branch}_${hashes[i]}`, control: job.control! }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const locks: RunLock[] = [];
  let gpu: Gpu | undefined;
  try {
    for (const w of wanted) locks.push(await lockForCommand(storage.root, w.path, w.control));
    gpu = await openGpu(o.adapter);
    const k = resolvePack(pack, gpu, plan.spec, Math.max(...batches), jobs.length * levels.length, (s) => console.error(s));
    const env = { gpu, storage, sink, data, pretrainData };
    const outcomes = await runBranches(jobs.map((job) => ({ env, job })), { pack: k });
    if (jobs.length === 1 && 'error' in outcomes[0]!) throw outcomes[0].error; // as runBranch: one branch fails with its own error
    const failed: { name: string; error: unknown }[] = [];
    for (const [i, r] of outcomes.entries()) {
      // A failed branch shows the levels it finished (as `lottery --replicates` does), then why it stopped.
      if (!('error' in r) || r.rows.length) console.log(formatLevels(`${storage.root}/${plan.root} branch ${names[i]}`, r.rows));
      if ('error' in r) {
        failed.push({ name: names[i]!, error: r.error });
        console.error(`earlyphase: branch ${names[i]} stopped: ${(r.error as Error)?.message ?? String(r.error)}`);
      }
    }
    if (failed.length) {
      // A bug keeps its stack; failures on purpose (divergence, a lost lock…) name the branches.
      const bug = failed.find((f) => !(f.error instanceof UserError));
      if (bug) throw bug.error;
      throw new UserError(`${failed.length} of ${names.length} branches failed: ${failed.map((f) => f.name).join(', ')}; the others' results are above`);
    }
  } finally {
    gpu?.destroy();
    for (const l of locks) await l.release();
  }
}
