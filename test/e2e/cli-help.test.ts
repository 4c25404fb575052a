// What `train`, `lottery` and `branch` print without training (issue: help that omits flags):
// their --help lists the flags a researcher needs, --hparams-help shows a preset's values, and
// --display-output-location names the folder a run would write, with nothing created.
// Commander's help text needs the CLI (a process); the texts the commands print come from
// runner/cli/run-help.ts, called here, with one command of each as a process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hparamsHash, parseHparamArgv } from '../../src/train/hparams.ts';
import { lotteryHash, parseLotteryArgv } from '../../src/lottery/options.ts';
import { hparamsHelp, lotteryOutputLocation } from '../../runner/cli/run-help.ts';
import { tempDir } from '../temp-dir.ts';
import { earlyphase } from '../cli.ts';
import { refused } from '../cli-parse.ts';

const cli = (...args: string[]) => earlyphase(args, { timeoutMs: 60_000 }).then((r) => ({ status: r.status, stdout: r.out, stderr: r.err }));

test('lottery --help names the rewind point, pre-training and where the hyperparameters are listed', async () => {
  const r = await cli('lottery', '--help');
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['--rewinding-steps', '--pretrain ', '--pretrain-<hparam>', '--pretrain-counts-against-budget', '--hparams-help', '--display-output-location']) {
    assert.ok(r.stdout.includes(flag), `lottery --help lacks ${flag}`);
  }
});

test('--hparams-help: lottery has it too, and a preset shows its values instead of "required"', async () => {
  const lottery = hparamsHelp([], 'lottery');
  assert.match(lottery, /--model-name <name>  \(required\)/);
  assert.match(lottery, /Lottery flags/);
  const preset = await cli('train', '--hparams-help', '--default-hparams', 'cifar_resnet_20');
  assert.equal(preset.status, 0, preset.stderr);
  assert.equal(preset.stdout, `${hparamsHelp(['--default-hparams', 'cifar_resnet_20'], 'train')}\n`, 'the CLI prints run-help.ts\'s text');
  assert.doesNotMatch(preset.stdout, /\(required\)/);
  assert.match(preset.stdout, /--lr <number>  \(default: 0\.1\)/);
  assert.match(preset.stdout, /--training-steps <step>  \(default: 160ep\)/);
  await refused(['train', '--hparams-help', '--default-hparams', 'nope'], /unknown preset "nope"/);
});

test('branch --help lists every branch with its options', async () => {
  const r = await cli('branch', 'gaussian_noise', '--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /gaussian_noise \(--alpha, --scale\)/);
  assert.match(r.stdout, /randomly_prune/);
  assert.match(r.stdout, /level N only/);
  // Several branches at once: the argument and the description say so.
  const flat = r.stdout.replace(/\s+/g, ' '); // help text is wrapped to the terminal's width
  assert.match(flat, /Arguments: name a branch, or several separated by commas \(NAME,NAME,…\), trained together/);
  assert.match(flat, /NAME,NAME,… trains several branches together/);
});

test('--display-output-location prints the folder a run would use and creates nothing', async () => {
  const root = join(tempDir('earlyphase-help-'), 'runs');
  const args = ['--default-hparams', 'mnist_lenet_300_100', '--lr', '0.05'];
  const t = await cli('train', ...args, '--root', root, '--replicate', '2', '--display-output-location');
  assert.equal(t.status, 0, t.stderr);
  const [trainDir, ...trainJson] = t.stdout.trim().split('\n');
  assert.equal(trainDir, `${root}/train_${hparamsHash(parseHparamArgv(args).hparams)}/replicate_2/main`);
  assert.equal(JSON.parse(trainJson.join('\n')).training.lr, 0.05);
  const l = lotteryOutputLocation([...args, '--rewinding-steps', '10it'], root, 1);
  const { hparams, lottery } = parseLotteryArgv([...args, '--rewinding-steps', '10it']);
  assert.equal(l.split('\n')[0], `${root}/lottery_${lotteryHash(hparams, lottery)}/replicate_1`);
  assert.equal(existsSync(root), false, 'nothing is written');
});
