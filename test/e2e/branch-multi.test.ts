// `earlyphase branch A,B …`: several branches of one lottery trained together (one runBranches
// call, packed with --pack) write exactly the folders and print exactly the tables of running each
// branch alone (each with its own default seed); --seed seeds all of them; one that fails
// (diverges) stops alone, the others' results are printed and the command exits 2 naming it; bad
// names and flags fail before any GPU work. Lavapipe, a tiny
// Fashion-MNIST subsample (20 iterations per run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../temp-dir.ts';
import { tree, treeDiff } from '../fault/tree.ts';
import { earlyphase, errorLines, NO_GPU } from '../cli.ts';
import { refused } from '../cli-parse.ts';
import { copyFixture } from '../fixtures.ts';
import { lotteryReference } from '../fault/kill-suite.ts';

const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '20it', '--rewinding-steps', '5it', '--evaluate-only-at-end', '--adapter', 'llvmpipe', '--quiet'];
const run = (args: string[], root: string, env: Record<string, string> = {}) => earlyphase([...args, ...FLAGS, '--root', root], { env });

/**
 * The lottery the branches start from (levels 0–1, the same command as the lottery kill test's
 * uninterrupted run: a shared fixture, test/fault/kill-suite.ts); each test branches from a copy.
 */
const copy = async () => copyFixture((await lotteryReference()).root, 'earlyphase-branch-multi-');

test('branch gaussian_noise,randomly_reinitialize --pack 3 writes and prints what the two branches run alone do', { timeout: 600_000 }, async () => {
  const together = await copy(), alone = await copy();
  const t = await run(['branch', 'gaussian_noise,randomly_reinitialize', '--alpha', '0.5', '--levels', '0-1', '--pack', '3'], together);
  assert.equal(t.status, 0, t.err);
  const a = await run(['branch', 'gaussian_noise', '--alpha', '0.5', '--levels', '0-1'], alone);
  assert.equal(a.status, 0, a.err);
  const b = await run(['branch', 'randomly_reinitialize', '--levels', '0-1'], alone);
  assert.equal(b.status, 0, b.err);
  // Every file (weights, checkpoints, metrics, branch.json, done.json) byte-identical, lock files aside.
  assert.deepEqual(treeDiff(tree(alone), tree(together)), []);
  const level1 = readdirSync(join(together, readdirSync(together)[0]!, 'replicate_1', 'level_1')).filter((d) => d.startsWith('branch_'));
  assert.equal(level1.length, 2, level1.join(' '));
  // One table per branch, in the order named, the same as each branch alone prints.
  assert.equal(t.out.replaceAll(together, 'ROOT'), (a.out + b.out).replaceAll(alone, 'ROOT'));
  assert.ok(t.out.indexOf('branch gaussian_noise') < t.out.indexOf('branch randomly_reinitialize'), t.out);
  assert.equal((t.out.match(/level {2}weights remaining/g) ?? []).length, 2, t.out);
  // --pack 3 of 4 runs: levels 0-1 of the first branch and level 0 of the second trained as one pack.
  assert.doesNotMatch(t.err, /pack .* does not fit/);
});

test('a branch that diverges stops alone: the other\'s table is printed, exit 2 naming the failed branch', { timeout: 600_000 }, async () => {
  const root = await copy();
  const r = await run(['branch', 'shuffle_weights,retrain', '--mode', 'magnitudes', '--retrain-lr', '1e5', '--seed', '7', '--levels', '1', '--pack', '2'], root);
  assert.equal(r.status, 2, r.err);
  assert.match(r.out, /branch shuffle_weights\n\s*level\s+weights remaining\s+test accuracy\n\s*1\s+80\.\d\d%/);
  assert.doesNotMatch(r.out, /branch retrain/);
  assert.match(r.err, /^earlyphase: branch retrain stopped: training diverged/m);
  assert.match(r.err, /^earlyphase: 1 of 2 branches failed: retrain; the others' results are above$/m);
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
  // --seed seeds every named branch.
  const level1 = join(root, readdirSync(root)[0]!, 'replicate_1', 'level_1');
  const seeds = readdirSync(level1).filter((d) => d.startsWith('branch_')).sort()
    .map((d) => [d.replace(/_[0-9a-f]{10}$/, ''), JSON.parse(readFileSync(join(level1, d, 'branch.json'), 'utf8')).seed]);
  assert.deepEqual(seeds, [['branch_retrain', 7], ['branch_shuffle_weights', 7]]);
  // shuffle_weights is finished: alone, it is skipped and prints the same table.
  const again = await run(['branch', 'shuffle_weights', '--mode', 'magnitudes', '--seed', '7', '--levels', '1'], root);
  assert.equal(again.status, 0, again.err);
  assert.ok(r.out.startsWith(again.out), `${r.out}\n---\n${again.out}`);
});

test('bad branch lists and flags fail before any GPU work: a flag no named branch knows, a name twice, an unknown name', async () => {
  const empty = tempDir('earlyphase-branch-multi-empty-');
  // Options no named branch takes are found by the command itself: as processes, with no Vulkan driver visible.
  const processes: [string[], RegExp][] = [
    [['branch', 'gaussian_noise,randomly_reinitialize', '--nope', '3'],
      /^earlyphase: unknown arguments --nope 3 for branches gaussian_noise, randomly_reinitialize: no option of theirs \(gaussian_noise --alpha, --scale; randomly_reinitialize none\) and no training or lottery flag/],
    // gaussian_noise's --alpha, given to two branches that do not take it.
    [['branch', 'randomly_reinitialize,shuffle_weights', '--alpha', '0.5'], /unknown arguments --alpha 0\.5 for branches randomly_reinitialize, shuffle_weights: .*shuffle_weights --mode/],
  ];
  for (const [[args, msg], r] of await Promise.all(processes.map(async (c) => [c, await run([...c[0], '--levels', '1'], empty, NO_GPU)] as const))) {
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, msg);
    assert.doesNotMatch(r.err, /Vulkan|adapter found|\n\s+at /);
    assert.equal(errorLines(r.err).length, 1, r.err);
  }
  // The branch list itself, and each branch's own options, are checked while parsing (test/cli-parse.ts).
  const parsed: [string[], RegExp][] = [
    [['branch', 'gaussian_noise,randomly_prune,gaussian_noise'], /^earlyphase: branch gaussian_noise is named more than once in gaussian_noise,randomly_prune,gaussian_noise[^\n]*$/],
    [['branch', 'gaussian_noise,'], /^earlyphase: branch names "gaussian_noise,": an empty name[^\n]*$/],
    [['branch', 'gaussian_noise,no_such_branch'], /^earlyphase: unknown branch "no_such_branch"; branches:\n {2}sign_preserving_reinit/],
    [['branch', 'randomly_reinitialize,gaussian_noise', '--alpha', '-1'], /alpha.*-1/],
  ];
  for (const [args, msg] of parsed) await refused([...args, '--levels', '1', ...FLAGS, '--root', empty], msg);
  assert.deepEqual(readdirSync(empty), [], 'nothing written');
});
