// The run form as the CLI's argv: the page builds the same flags `earlyphase lottery` takes and
// parses them with the CLI's parsers, so validation and error messages are the CLI's own.
import { HparamsError, UserError } from '../src/errors.ts';
import { parseLotteryArgv } from '../src/lottery/options.ts';
import { parseLevels } from '../src/lottery/levels.ts';
import { allBranchNames } from '../src/lottery/branch.ts';
import { unsupportedKnobs } from '../src/train/trainer.ts';
import type { Hparams } from '../src/train/hparams.ts';
import type { LotteryOptions } from '../src/lottery/options.ts';

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
  telemetry: boolean;
  /** --evaluate-only-at-end: one pass over the test set per level (evaluation dominates small runs on a CPU adapter). */
  evaluateOnlyAtEnd: boolean;
  replicate: string;
  /** Any further CLI flags, e.g. "--lr 0.05 --batch-size 128". */
  extra: string;
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
  branch: string | null;
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
  if (v.rewindingSteps.trim()) argv.push('--rewinding-steps', v.rewindingSteps.trim());
  if (v.pruningFraction.trim()) argv.push('--pruning-fraction', v.pruningFraction.trim());
  argv.push(...v.extra.split(/\s+/).filter(Boolean));
  return argv;
}

export function parseRunForm(v: RunFormValues, trainCount: number): RunConfig {
  const argv = formArgv(v, trainCount);
  const { hparams, lottery, rest } = parseLotteryArgv(argv);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase train --hparams-help)`);
  const bad = unsupportedKnobs(hparams);
  if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  if (lottery.pretrain) throw new UserError('pre-training is not offered in the tab; run it with earlyphase lottery --pretrain');
  const replicate = Number(v.replicate);
  if (!Number.isInteger(replicate) || replicate < 1) throw new HparamsError(`--replicate: expected a positive integer, got "${v.replicate}"`);
  const branch = v.branch || null;
  if (branch && !allBranchNames().includes(branch)) throw new UserError(`unknown branch ${JSON.stringify(branch)}`);
  return { argv, hparams, lottery, levels: parseLevels(v.levels), levelsText: v.levels.trim(), replicate, telemetry: v.telemetry, evaluateOnlyAtEnd: v.evaluateOnlyAtEnd, branch };
}

/** The equivalent command line, shown in the page so a tab run can be repeated in a terminal. */
export function commandLine(c: RunConfig): string {
  const quote = (s: string) => (/^[\w.,:/=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  return ['earlyphase lottery', ...c.argv.map(quote), '--levels', quote(c.levelsText),
    '--replicate', String(c.replicate), ...(c.telemetry ? ['--telemetry'] : []), ...(c.evaluateOnlyAtEnd ? ['--evaluate-only-at-end'] : [])].join(' ');
}
