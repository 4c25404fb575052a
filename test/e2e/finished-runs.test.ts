// Options that change a result and finished folders (issue 14 items 2 and 3), on tiny real runs:
// instability with another --points gets its own folder (it used to overwrite the first result);
// --telemetry / --save-steps on a finished run stop with one line saying what is missing and
// how to get it (they used to say "already done" and add nothing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../temp-dir.ts';
import { earlyphase as cli, errorLines } from '../cli.ts';

// 600 images at batch 128: 5 iterations per epoch.
const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.01',
  '--training-steps', '10it', '--adapter', 'llvmpipe', '--quiet'];
const earlyphase = (...args: string[]) => cli([...args, ...FLAGS], { timeoutMs: 180_000 });
async function ok(...args: string[]) {
  const r = await earlyphase(...args);
  assert.equal(r.status, 0, `earlyphase ${args.join(' ')}: ${r.err}`);
  return r;
}
async function refused(re: RegExp, ...args: string[]) {
  const r = await earlyphase(...args);
  assert.equal(r.status, 2, `earlyphase ${args.join(' ')}: exit ${r.status}\n${r.err}`);
  // Besides the line saying which data files were read (every command prints it), one error line.
  const lines = errorLines(r.err);
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0]!, re);
}

test('instability: --points 3 then --points 5 keep two results in two folders', { timeout: 240_000 }, async () => {
  const root = tempDir('earlyphase-e2e-');
  await ok('lottery', '--levels', '0', '--root', root);
  await ok('instability', '--levels', '0', '--points', '3', '--root', root);
  await ok('instability', '--levels', '0', '--points', '5', '--root', root);
  const lottery = readdirSync(root).find((n) => n.startsWith('lottery_'))!;
  const level = join(root, lottery, 'replicate_1', 'level_0');
  const folders = readdirSync(level).filter((n) => n.startsWith('instability_')).sort();
  assert.equal(folders.length, 2, folders.join(', '));
  const points = folders.map((f) => JSON.parse(readFileSync(join(level, f, 'instability.json'), 'utf8')).alphas.length).sort();
  assert.deepEqual(points, [3, 5]);
});

test('--telemetry and --save-steps on a finished run: one line naming what is missing and how to get it', { timeout: 240_000 }, async () => {
  const root = tempDir('earlyphase-e2e-');
  const first = await ok('train', '--root', root);
  const run = JSON.parse(first.out).run as string;
  await refused(new RegExp(`^earlyphase: ${run} finished without telemetry \\(--telemetry\\), which are recorded while training .*rm -r ${run}`), 'train', '--telemetry', '--root', root);
  await refused(/finished without the weights model_ep1_it2\.safetensors \(--save-steps\)/, 'train', '--save-steps', '7it', '--root', root);
  // What the run has already (its start and end are always saved) is no reason to refuse.
  const again = await ok('train', '--save-steps', '0it,10it', '--root', root);
  assert.equal(JSON.parse(again.out).skipped, true);
  await ok('lottery', '--levels', '0', '--root', root);
  await refused(/lottery_[0-9a-f]+\/replicate_1\/level_0\/main finished without telemetry \(--telemetry\)/, 'lottery', '--levels', '1', '--telemetry', '--root', root);
});

test('a run finished with --evaluate-only-at-end, asked again without it: a note says its per-epoch curve is missing and how to get it', { timeout: 120_000 }, async () => {
  const root = tempDir('earlyphase-e2e-');
  const first = await ok('train', '--evaluate-only-at-end', '--root', root);
  assert.doesNotMatch(first.err, /note:/);
  const run = JSON.parse(first.out).run as string;
  const again = await ok('train', '--root', root);
  assert.equal(JSON.parse(again.out).skipped, true);
  assert.match(again.err, new RegExp(`^note: ${run} finished with --evaluate-only-at-end, so it has no per-epoch test accuracy; for that curve remove the folder \\(rm -r ${run}\\) and run again$`, 'm'));
  assert.doesNotMatch((await ok('train', '--evaluate-only-at-end', '--root', root)).err, /note:/, 'asked the same way: nothing to say');
});
