// What each command checks of its command line before it does any work — reads data, opens the
// GPU, touches the network or writes a file — through the same parsers the commands call. Used by
// parseOnlyArgv (cli.ts), so a command shown in the docs is checked against the real CLI without
// running it (test/unit/docs.test.ts). Commander has already checked the options it declares.
import type { Command } from 'commander';
import { HparamsError, UserError } from '../../src/errors.ts';
import { parseHparamArgv, type Hparams } from '../../src/train/hparams.ts';
import { hparamsWithOverrides, parseLotteryArgv } from '../../src/lottery/options.ts';
import { parseLevels } from '../../src/lottery/levels.ts';
import { resolveBranch, splitBranchesArgs } from '../../src/lottery/branch.ts';
import { expandSweep } from '../../src/lottery/sweep.ts';
import { canonicalStep, parseStepList } from '../../src/train/steps.ts';
import { unsupportedKnobs } from '../../src/train/run-plan.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { kernelSuite } from '../../src/check/suite.ts';
import { parsePack } from '../host/pack-size.ts';
import { parseReplicates, shrinkSweep } from '../sweep/sweep-shrink.ts';
import { parseQueueUrl } from '../sweep/queue/connection.ts';
import { FETCHABLE } from '../data/data-fetch.ts';
import { hparamsHelp, lotteryOutputLocation, trainOutputLocation } from './run-help.ts';
import { parseBranchNames } from './branch-command.ts';
import { loadSweepSpec } from './sweep-command.ts';

// Options as commander hands them to each action (see cli.ts).
type Opts = Record<string, any>;

/** --init-weights FILE without reading FILE: a stand-in SHA-256 where the command would put the file's. */
function withInitWeights(argv: readonly string[], file: string | undefined): string[] {
  return file === undefined ? [...argv] : [...argv, `--init-weights-sha256=${'0'.repeat(64)}`];
}

function supported(...all: (Hparams | undefined)[]): void {
  for (const h of all) {
    const bad = h ? unsupportedKnobs(h) : [];
    if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  }
}

function noRest(rest: readonly string[], command: string): void {
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase ${command} --help)`);
}

const CHECKS: Record<string, (o: Opts, args: string[]) => void> = {
  train(o, args) {
    if (o.hparamsHelp) { hparamsHelp(args, 'train'); return; }
    const argv = withInitWeights(args, o.initWeights);
    trainOutputLocation(argv, o.root, o.replicate);
    const { hparams } = parseHparamArgv(argv);
    supported(hparams);
    getModel(hparams.model.model_name);
    if (o.saveSteps) parseStepList(o.saveSteps, '--save-steps');
    if (o.replicates) parseReplicates(o.replicates);
    if (o.pack) parsePack(o.pack);
  },
  lottery(o, args) {
    if (o.hparamsHelp) { hparamsHelp(args, 'lottery'); return; }
    const argv = withInitWeights(args, o.initWeights);
    lotteryOutputLocation(argv, o.root, o.replicate);
    const { hparams, lottery } = parseLotteryArgv(argv);
    supported(hparams, lottery.pretrain?.hparams);
    parseLevels(o.levels);
    if (o.replicates) parseReplicates(o.replicates);
    if (o.pack) parsePack(o.pack);
  },
  branch(o, args) {
    const [name, ...argv] = args;
    if (name === 'list') return;
    const names = parseBranchNames(name!);
    const { branches, rest: lotteryArgs } = splitBranchesArgs(names, argv);
    const { hparams, lottery, rest } = parseLotteryArgv(lotteryArgs);
    noRest(rest, 'branch');
    const levels = parseLevels(o.levels, 'only');
    if (o.pack) parsePack(o.pack);
    names.forEach((branch, i) => {
      const { options, retrain } = branches[i]!;
      resolveBranch({ hparams, lottery, replicate: o.replicate, maxLevel: Math.max(...levels), levels, branch, options,
        retrain: retrain.length ? hparamsWithOverrides(hparams, retrain) : undefined, seed: o.seed ?? 1 });
    });
  },
  instability(o, args) {
    const { hparams, rest } = parseLotteryArgv(args);
    noRest(rest, 'instability');
    supported(hparams);
    parseLevels(o.levels);
    if (o.pack) parsePack(o.pack);
  },
  batches(o, args) {
    const { rest } = parseHparamArgv(args);
    noRest(rest, 'batches');
    canonicalStep(o.from ?? '0it', '--from');
    if (o.to !== undefined) canonicalStep(o.to, '--to');
  },
  demo(o) {
    const base = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--training-steps', o.trainingSteps,
      ...(o.subsample === '1' ? [] : ['--subsample-fraction', o.subsample])];
    parseLotteryArgv(base);
    parseLotteryArgv([...base, '--rewinding-steps', o.rewind]);
    parseLevels(o.levels);
    parseLevels(o.reinitLevels, 'only', '--reinit-levels');
  },
  sweep(o, args) {
    expandSweep(shrinkSweep(loadSweepSpec(args[0]!, o.setup), o));
    if (o.pack) parsePack(o.pack);
    if (o.queue) parseQueueUrl(o.queue);
  },
  worker(o) {
    parseQueueUrl(o.queue);
    if (o.pack) parsePack(o.pack);
  },
  'queue status': (o) => void parseQueueUrl(o.queue),
  'queue retry': (o) => void parseQueueUrl(o.queue),
  'queue clean': (o) => void parseQueueUrl(o.queue),
  'data fetch'(_o, args) {
    if (!(FETCHABLE as string[]).includes(args[0]!)) throw new UserError(`data fetch: unknown dataset "${args[0]}" (known: ${FETCHABLE.join(', ')})`);
  },
  check(o) {
    if (o.filter && !kernelSuite.some((c) => `${c.family}: ${c.name}`.includes(o.filter))) throw new UserError(`--filter "${o.filter}" matches no kernel case`);
  },
};
CHECKS.lottery_branch = CHECKS.branch!;

/** Runs the checks of the command about to run; commands with none (view, report, models, …) have only commander's. */
export async function checkCommand(cmd: Command): Promise<void> {
  const path: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) path.unshift(c.name());
  const key = path.join(' ');
  const o = cmd.opts() as Opts;
  if (key === 'bench') {
    const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
    const { checkApexFp16, parsePeers, parseSuites } = await import('../tools/bench/index.ts');
    const peers = parsePeers(list(o.peer));
    const suites = parseSuites(list(o.suite));
    if (o.apexFp16) checkApexFp16(suites, peers);
    if (o.pack !== undefined) (await import('../tools/bench/training-pack.ts')).parsePackSizes(o.pack);
    if (o.pack !== undefined && !suites.includes('training')) throw new UserError('bench --pack times training steps: add --suite training');
  } else if (key === 'profile') {
    (await import('../tools/profile/profile.ts')).parseProfileOptions(o as never);
  } else {
    CHECKS[key]?.(o, cmd.args);
  }
}
