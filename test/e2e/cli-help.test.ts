// What `train`, `lottery` and `branch` print without training (issue: help that omits flags):
// their --help lists the flags a researcher needs, --hparams-help shows a preset's values, and
// --display-output-location names the folder a run would write, with nothing created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hparamsHash, parseHparamArgv } from '../../src/train/hparams.ts';
import { lotteryHash, parseLotteryArgv } from '../../src/lottery/options.ts';
import { tempDir } from '../temp-dir.ts';

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['runner/earlyphase.mjs', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('lottery --help names the rewind point, pre-training and where the hyperparameters are listed', () => {
  const r = cli('lottery', '--help');
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['--rewinding-steps', '--pretrain ', '--pretrain-<hparam>', '--pretrain-counts-against-budget', '--hparams-help', '--display-output-location']) {
    assert.ok(r.stdout.includes(flag), `lottery --help lacks ${flag}`);
  }
});

test('--hparams-help: lottery has it too, and a preset shows its values instead of "required"', () => {
  const lottery = cli('lottery', '--hparams-help');
  assert.equal(lottery.status, 0, lottery.stderr);
  assert.match(lottery.stdout, /--model-name <name>  \(required\)/);
  assert.match(lottery.stdout, /Lottery flags/);
  const preset = cli('train', '--hparams-help', '--default-hparams', 'cifar_resnet_20');
  assert.equal(preset.status, 0, preset.stderr);
  assert.doesNotMatch(preset.stdout, /\(required\)/);
  assert.match(preset.stdout, /--lr <number>  \(default: 0\.1\)/);
  assert.match(preset.stdout, /--training-steps <step>  \(default: 160ep\)/);
  const bad = cli('train', '--hparams-help', '--default-hparams', 'nope');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown preset "nope"/);
});

test('branch --help lists every branch with its options', () => {
  const r = cli('branch', 'gaussian_noise', '--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /gaussian_noise \(--alpha, --scale\)/);
  assert.match(r.stdout, /randomly_prune/);
  assert.match(r.stdout, /level N only/);
  // Several branches at once: the argument and the description say so.
  const flat = r.stdout.replace(/\s+/g, ' '); // help text is wrapped to the terminal's width
  assert.match(flat, /Arguments: name a branch, or several separated by commas \(NAME,NAME,…\), trained together/);
  assert.match(flat, /NAME,NAME,… trains several branches together/);
});

test('--display-output-location prints the folder a run would use and creates nothing', () => {
  const root = join(tempDir('earlyphase-help-'), 'runs');
  const args = ['--default-hparams', 'mnist_lenet_300_100', '--lr', '0.05'];
  const t = cli('train', ...args, '--root', root, '--replicate', '2', '--display-output-location');
  assert.equal(t.status, 0, t.stderr);
  const [trainDir, ...trainJson] = t.stdout.trim().split('\n');
  assert.equal(trainDir, `${root}/train_${hparamsHash(parseHparamArgv(args).hparams)}/replicate_2/main`);
  assert.equal(JSON.parse(trainJson.join('\n')).training.lr, 0.05);
  const l = cli('lottery', ...args, '--rewinding-steps', '10it', '--root', root, '--display-output-location');
  assert.equal(l.status, 0, l.stderr);
  const { hparams, lottery } = parseLotteryArgv([...args, '--rewinding-steps', '10it']);
  assert.equal(l.stdout.split('\n')[0], `${root}/lottery_${lotteryHash(hparams, lottery)}/replicate_1`);
  assert.equal(existsSync(root), false, 'nothing is written');
});
