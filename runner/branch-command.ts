// `earlyphase branch NAME` (also `lottery_branch NAME`): a branch at the given levels of an
// existing lottery. The trunk (masks, w_0, w_k) is read and checked before the GPU is touched.
import { HparamsError, UserError } from '../src/errors.ts';
import { hparamsWithOverrides, parseLotteryArgv } from '../src/lottery/options.ts';
import { allBranchNames, describeBranches, runBranch, splitBranchArgs } from '../src/lottery/branch.ts';
import { parseLevels } from '../src/lottery/levels.ts';
import { tensorSeed } from '../src/nn/init.ts';
import { loadDataset } from './datasets.ts';
import { openGpu } from './dawn.ts';
import { FsStorage } from './fs-storage.ts';
import { terminalSink } from './progress.ts';
import { checkRunsFit } from './capacity.ts';
import { lockForCommand } from './run-lock.ts';
import { RunControl } from '../src/train/control.ts';
import { formatLevels } from './lottery-command.ts';
import { parsePack, resolvePack } from './pack-size.ts';

export interface BranchCommand {
  name: string; root: string; replicate: number; dataDir?: string; levels: string; seed?: number; evaluateOnlyAtEnd?: boolean; quiet?: boolean;
  /** Runs per pack ("4", "auto"): the branch's levels train together; default: one at a time. */
  pack?: string;
  adapter?: string; argv: string[];
}

export async function runBranchCommand(o: BranchCommand): Promise<void> {
  if (!allBranchNames().includes(o.name)) {
    throw new UserError(`unknown branch ${JSON.stringify(o.name)}; branches:\n${describeBranches()}`);
  }
  const { options, retrain, rest: lotteryArgs } = splitBranchArgs(o.name, o.argv);
  const { hparams, lottery, rest } = parseLotteryArgv(lotteryArgs);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} for branch ${o.name}`);
  const retrainHparams = retrain.length ? hparamsWithOverrides(hparams, retrain) : undefined;
  const levels = parseLevels(o.levels, 'only');
  const pack = o.pack ? parsePack(o.pack) : 1;
  const data = await loadDataset(hparams.dataset.dataset_name, { dataDir: o.dataDir, log: console.error });
  const pre = lottery.pretrain?.hparams.dataset.dataset_name;
  const pretrainData = pre && pre !== hparams.dataset.dataset_name ? await loadDataset(pre, { dataDir: o.dataDir, log: console.error }) : undefined;
  const storage = new FsStorage(o.root);
  const sink = terminalSink({ quiet: o.quiet });
  const job = {
    hparams, lottery, replicate: o.replicate, maxLevel: Math.max(...levels), levels, evaluateOnlyAtEnd: o.evaluateOnlyAtEnd,
    branch: o.name, options, retrain: retrainHparams, seed: o.seed ?? tensorSeed(o.replicate, `branch:${o.name}`), control: new RunControl(),
  };
  // Resolve options and read the whole trunk before opening the GPU: bad input fails fast.
  const { planLottery } = await import('../src/lottery/lottery.ts');
  const { resolveBranch, trunkFor } = await import('../src/lottery/branch.ts');
  const plan = planLottery(job, data, pretrainData);
  const { hash } = resolveBranch(job);
  for (const l of levels) await trunkFor({ storage, sink }, plan, l);
  await checkRunsFit([{ spec: plan.spec, batch: (retrainHparams ?? hparams).dataset.batch_size }], o.adapter);
  const lock = await lockForCommand(storage.root, `${plan.root}/.lock-branch_${o.name}_${hash}`, job.control); // the path a sweep job uses too
  const gpu = await openGpu(o.adapter).catch(async (e) => { await lock.release(); throw e; });
  try {
    const k = resolvePack(pack, gpu, plan.spec, (retrainHparams ?? hparams).dataset.batch_size, levels.length, (s) => console.error(s));
    const results = await runBranch({ gpu, storage, sink, data, pretrainData }, job, { pack: k });
    console.log(formatLevels(`${storage.root}/${plan.root} branch ${o.name}`, results));
  } finally {
    gpu.destroy();
    await lock.release();
  }
}
