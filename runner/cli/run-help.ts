// What `train` and `lottery` print without training: the hyperparameter flags (with a preset's
// values when --default-hparams names one), the lottery's own flags, and (OpenLTH's
// --display_output_location) the folder a run would write with its resolved hyperparameters.
import { formatHparamsHelp, hparamsHash, parseHparamArgv } from '../../src/train/hparams.ts';
import { lotteryHash, parseLotteryArgv } from '../../src/lottery/options.ts';
import { HparamsError } from '../../src/errors.ts';

/** The lottery's flags that are not training hyperparameters (its --help and --hparams-help list them). */
export const LOTTERY_FLAGS_HELP = [
  'Lottery flags (besides every training hyperparameter: earlyphase lottery --hparams-help [--default-hparams NAME]):',
  '  --rewinding-steps <step>  the rewind point k, e.g. 0it (default: the original lottery ticket), 500it, 2ep',
  '  --pretrain  pre-train the dense network before level 0; level 0 starts from the pre-trained weights',
  '  --pretrain-<hparam> <value>  a pre-training override of any hyperparameter, e.g. --pretrain-training-steps 40ep,',
  '      --pretrain-unsupervised-labels rotation, --pretrain-random-labels-fraction 1, --pretrain-blur-factor 4',
  '  --pretrain-counts-against-budget[=false]  pre-training steps count against the training budget (default true, as OpenLTH)',
  '  --display-output-location  print the lottery folder and the resolved hyperparameters, then exit',
].join('\n');

export const TRAIN_FLAGS_HELP = [
  'Hyperparameters: every flag of `earlyphase train --hparams-help [--default-hparams NAME]` (a preset\'s values shown),',
  'e.g. --default-hparams mnist_lenet_300_100 --lr 0.05 --training-steps 10ep.',
  '  --display-output-location  print the run folder and the resolved hyperparameters, then exit',
].join('\n');

/** The --default-hparams value in argv (either spelling, "=" or separate), if any. */
export function presetFromArgv(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--default[-_]hparams(?:=(.*))?$/.exec(argv[i]!);
    if (m) return m[1] ?? argv[i + 1];
  }
  return undefined;
}

/** `--hparams-help`: every hyperparameter flag, with the named preset's values; the lottery adds its own flags. */
export function hparamsHelp(argv: readonly string[], command: 'train' | 'lottery'): string {
  const preset = presetFromArgv(argv);
  if (preset !== undefined) parseHparamArgv(['--default-hparams', preset]); // an unknown preset: the usual one-line error
  const text = formatHparamsHelp(preset);
  return command === 'lottery' ? `${text}\n\n${LOTTERY_FLAGS_HELP}` : text;
}

function unknown(rest: string[], command: string): never {
  throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase ${command} --hparams-help)`);
}

/** `train --display-output-location`: the run folder and the resolved hyperparameters, no data or GPU. */
export function trainOutputLocation(argv: readonly string[], root: string, replicate: number): string {
  const { hparams, rest } = parseHparamArgv(argv);
  if (rest.length) unknown(rest, 'train');
  return `${root}/train_${hparamsHash(hparams)}/replicate_${replicate}/main\n${JSON.stringify(hparams, null, 2)}`;
}

/** `lottery --display-output-location`: the lottery's folder and its resolved hyperparameters and options. */
export function lotteryOutputLocation(argv: readonly string[], root: string, replicate: number): string {
  const { hparams, lottery, rest } = parseLotteryArgv(argv);
  if (rest.length) unknown(rest, 'lottery');
  return `${root}/lottery_${lotteryHash(hparams, lottery)}/replicate_${replicate}\n${JSON.stringify({ hparams, lottery }, null, 2)}`;
}
