// The run form as the CLI's argv: the page builds the same flags `earlyphase lottery` takes and
// parses them with the CLI's parsers, so validation and error messages are the CLI's own.
import { HparamsError, UserError } from '../src/errors.ts';
import { hparamsWithOverrides, parseLotteryArgv } from '../src/lottery/options.ts';
import { formatLevels, parseLevels } from '../src/lottery/levels.ts';
import { allBranchNames, branchOptionSpecs, resolveBranch, splitBranchArgs } from '../src/lottery/branch.ts';
import { tensorSeed } from '../src/nn/init.ts';
import { unsupportedKnobs } from '../src/train/run-plan.ts';
import type { Hparams } from '../src/train/hparams.ts';
import type { LotteryOptions } from '../src/lottery/options.ts';
import { PRETRAIN_TASKS, type PretrainTask } from '../src/lottery/pretrain-tasks.ts';

/** The form's fields, as text (what the inputs hold). */
export interface RunFormValues {
  model: string;
  dataset: string;
  trainingSteps: string;
  /** Training images kept (a subsample of the training set); empty = all. */
  subsample: string;
  rewindingSteps: string;
  levels: string;
  pruningFraction: string;
  /** A branch run after the levels at every level ≥ 1; empty = none. */
  branch: string;
  /** The branch's own options as typed (option name → text; empty = not given, "true" = a ticked flag). */
  branchOptions: Record<string, string>;
  /** For the retrain branch: its --retrain-<hparam> V flags. */
  retrainFlags: string;
  /** Pre-training before level 0 (the lottery's --pretrain flags); null = off. */
  pretrain: PretrainFormValues | null;
  telemetry: boolean;
  /** --evaluate-only-at-end: one pass over the test set per level (evaluation dominates small runs on a CPU adapter). */
  evaluateOnlyAtEnd: boolean;
  /** --apex-fp16: mixed precision (docs/mixed-precision.md); absent = off. */
  apexFp16?: boolean;
  replicate: string;
  /** Any further CLI flags, e.g. "--lr 0.05 --batch-size 128". */
  extra: string;
}

export interface PretrainFormValues {
  /** A key of PRETRAIN_TASKS. */
  task: string;
  trainingSteps: string;
  countsAgainstBudget: boolean;
}

/** The branch as `earlyphase branch NAME` would run it. */
export interface BranchConfig {
  name: string;
  /** The branch's own flags (options, --retrain-<hparam>), as the CLI takes them. */
  argv: string[];
  options: Record<string, string>;
  retrain?: Hparams;
  seed: number;
}

export interface RunConfig {
  argv: string[];
  hparams: Hparams;
  lottery: LotteryOptions;
  levels: number[];
  /** The --levels text as given (N or a list), for the equivalent command line. */
  levelsText: string;
  replicate: number;
  telemetry: boolean;
  evaluateOnlyAtEnd: boolean;
  branch: BranchConfig | null;
}

/** The flags `earlyphase lottery` would be given for these values (levels, replicate and --telemetry are its own options). */
export function formArgv(v: RunFormValues, trainCount: number): string[] {
  const argv = ['--default-hparams', v.model, '--dataset-name', v.dataset];
  if (v.trainingSteps.trim()) argv.push('--training-steps', v.trainingSteps.trim());
  if (v.subsample.trim()) {
    const n = Number(v.subsample);
    if (!Number.isInteger(n) || n < 1 || n > trainCount) throw new HparamsError(`subsample: expected a whole number of training images from 1 to ${trainCount}, got "${v.subsample}"`);
    if (n < trainCount) argv.push('--subsample-fraction', String(n / trainCount));
  }
  // The CLI refuses --rewinding-steps with --pretrain: the pre-trained weights are the rewind point.
  if (v.pretrain) argv.push(...pretrainArgv(v.pretrain));
  else if (v.rewindingSteps.trim()) argv.push('--rewinding-steps', v.rewindingSteps.trim());
  if (v.pruningFraction.trim()) argv.push('--pruning-fraction', v.pruningFraction.trim());
  if (v.apexFp16) argv.push('--apex-fp16');
  argv.push(...v.extra.split(/\s+/).filter(Boolean));
  return argv;
}

function pretrainArgv(p: PretrainFormValues): string[] {
  const task = Object.hasOwn(PRETRAIN_TASKS, p.task) ? PRETRAIN_TASKS[p.task as PretrainTask] : null;
  if (!task) throw new UserError(`unknown pre-training task ${JSON.stringify(p.task)}; expected one of ${Object.keys(PRETRAIN_TASKS).join(', ')}`);
  return ['--pretrain', ...task.flags, ...(p.trainingSteps.trim() ? ['--pretrain-training-steps', p.trainingSteps.trim()] : []),
    ...(p.countsAgainstBudget ? [] : ['--pretrain-counts-against-budget=false'])];
}

/** The flags `earlyphase branch NAME` would be given for the branch's own options (empty fields left out: defaults apply). */
export function branchArgv(v: RunFormValues): string[] {
  const specs = branchOptionSpecs(v.branch);
  const argv = Object.entries(v.branchOptions).filter(([k, text]) => k in specs && text.trim())
    .flatMap(([k, text]) => [`--${k.replace(/_/g, '-')}`, text.trim()]);
  if (v.branch === 'retrain') argv.push(...v.retrainFlags.split(/\s+/).filter(Boolean));
  return argv;
}

export function parseRunForm(v: RunFormValues, trainCount: number): RunConfig {
  const argv = formArgv(v, trainCount);
  const { hparams, lottery, rest } = parseLotteryArgv(argv);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase train --hparams-help)`);
  const bad = unsupportedKnobs(hparams);
  if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  const replicate = Number(v.replicate);
  if (!Number.isInteger(replicate) || replicate < 1) throw new HparamsError(`--replicate: expected a positive integer, got "${v.replicate}"`);
  const levels = parseLevels(v.levels);
  let branch: BranchConfig | null = null;
  if (v.branch) {
    if (!allBranchNames().includes(v.branch)) throw new UserError(`unknown branch ${JSON.stringify(v.branch)}`);
    // What runner/cli/branch-command.ts does with its argv: split, parse, resolve (same errors).
    const bArgv = branchArgv(v);
    const { options, retrain, rest: bRest } = splitBranchArgs(v.branch, bArgv);
    if (bRest.length) throw new HparamsError(`unknown argument${bRest.length > 1 ? 's' : ''} ${bRest.join(' ')} for branch ${v.branch}`);
    branch = { name: v.branch, argv: bArgv, options, retrain: retrain.length ? hparamsWithOverrides(hparams, retrain) : undefined, seed: tensorSeed(replicate, `branch:${v.branch}`) };
    resolveBranch({ hparams, lottery, replicate, maxLevel: Math.max(...levels), levels, branch: branch.name, options, retrain: branch.retrain, seed: branch.seed });
  }
  return { argv, hparams, lottery, levels, levelsText: v.levels.trim(), replicate, telemetry: v.telemetry, evaluateOnlyAtEnd: v.evaluateOnlyAtEnd, branch };
}

/** The equivalent command lines (the lottery, then the branch), shown in the page so a tab run can be repeated in a terminal. */
export function commandLine(c: RunConfig): string {
  const quote = (s: string) => (/^[\w.,:/=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const common = [...c.argv.map(quote), '--levels', quote(c.levelsText), '--replicate', String(c.replicate), ...(c.evaluateOnlyAtEnd ? ['--evaluate-only-at-end'] : [])];
  const lottery = ['earlyphase lottery', ...common, ...(c.telemetry ? ['--telemetry'] : [])].join(' ');
  // A lone N means 0..N to the lottery but level N only to a branch: the branch gets the levels spelled out.
  const branchCommon = [...c.argv.map(quote), '--levels', formatLevels(c.levels), '--replicate', String(c.replicate), ...(c.evaluateOnlyAtEnd ? ['--evaluate-only-at-end'] : [])];
  return c.branch ? `${lottery}\n${['earlyphase branch', c.branch.name, ...branchCommon, ...c.branch.argv.map(quote)].join(' ')}` : lottery;
}
