// `earlyphase sweep`: specs are validated before anything runs; a small sweep runs its lotteries,
// branches and instability analyses, and running it again only skips finished stages; the same
// sweep packed (--pack auto) writes the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../temp-dir.ts';
import { tree, treeDiff } from '../fault/tree.ts';
import { earlyphase, NO_GPU } from '../cli.ts';
import { refused } from '../cli-parse.ts';

const run = (args: string[], env: Record<string, string> = {}) => earlyphase(args, { env });
const dir = tempDir('earlyphase-sweep-');
const spec = {
  name: 'tiny',
  flags: ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02', '--training-steps', '2ep'],
  evaluate_only_at_end: true,
  levels: '0-1', replicates: [1], rewinding_steps: ['0it', '5it'],
  branches: [{ name: 'randomly_reinitialize', levels: '1-1' }], instability: { levels: '1-1', points: 3 },
};

test('a sweep spec with an unknown key or a bad value fails before running anything, naming it', async () => {
  const bad = (i: number) => join(dir, `bad-${i}.json`);
  const cases: [object, RegExp][] = [
    [{ ...spec, colour: 'blue' }, /colour: unknown key/],
    [{ ...spec, rewinding_steps: ['5 it'] }, /5 it/],
    [{ ...spec, branches: [{ name: 'gaussian_noise', options: { alpha: '-2' }, levels: '1-1' }] }, /alpha.*-2/],
    [{ ...spec, instability: { levels: '4-4', points: 3 } }, /instability: level 4/],
  ];
  cases.forEach(([s], i) => writeFileSync(bad(i), JSON.stringify(s)));
  // The spec is read and checked while parsing (test/cli-parse.ts)…
  for (const [i, [, msg]] of cases.entries()) await refused(['sweep', bad(i), '--root', join(dir, 'never')], msg);
  await refused(['sweep', 'no-such-preset', '--root', join(dir, 'never')], /unknown sweep preset "no-such-preset"; presets: rewinding, telemetry, perturbations, pretraining/);
  // …and the CLI refuses it before any GPU work (no Vulkan driver visible here).
  const r = await run(['sweep', bad(0), '--root', join(dir, 'never')], NO_GPU);
  assert.equal(r.status, 2, r.err);
  assert.match(r.err, cases[0]![1]);
});

test('a small sweep runs everything once; a second run only skips', async () => {
  const file = join(dir, 'tiny.json');
  writeFileSync(file, JSON.stringify(spec));
  const root = join(dir, 'runs');
  const first = await run(['sweep', file, '--adapter', 'llvmpipe', '--root', root]);
  assert.equal(first.status, 0, first.err);
  assert.match(first.err, /sweep tiny: 6 jobs \(2 lotteries, 2 branches, 2 instability analyses\)/);
  assert.match(first.err, /job 6\/6: instability/);
  const lotteries = readdirSync(root).filter((d) => d.startsWith('lottery_'));
  assert.equal(lotteries.length, 2);
  for (const l of lotteries) {
    const level1 = readdirSync(join(root, l, 'replicate_1', 'level_1'));
    assert.ok(level1.some((d) => d.startsWith('branch_randomly_reinitialize_')), `${l}: no branch`);
    assert.ok(level1.some((d) => d.startsWith('instability_')), `${l}: no instability analysis`);
  }
  const again = await run(['sweep', file, '--adapter', 'llvmpipe', '--root', root]);
  assert.equal(again.status, 0, again.err);
  assert.doesNotMatch(again.err, /iterations \d+→/, 'nothing should train again');
  assert.match(again.err, /already done/);
  // The dry run lists each job with its folders and says they are done.
  const dry = await run(['sweep', file, '--dry-run', '--root', root]);
  assert.equal(dry.status, 0, dry.err);
  const jobs = dry.out.split('\n').filter((l) => /^\d+\. /.test(l));
  assert.equal(jobs.length, 6, dry.out);
  for (const j of jobs) assert.match(j, /— done$/);
  for (const l of lotteries) assert.ok(dry.out.includes(join(root, l, 'replicate_1', 'level_1', 'main')), `${l} level 1 listed`);
});

test('a preset shrinks from the command line; the shipped example spec and a resnet20 dry run without CIFAR-10 validate', async () => {
  const root = join(dir, 'empty');
  // Four dry runs, independent of each other: at once.
  const [shrunk, bad, example, resnet] = await Promise.all([
    run(['sweep', 'rewinding', '--replicates', '2', '--levels', '1', '--training-steps', '3ep', '--dry-run', '--root', root]),
    run(['sweep', 'rewinding', '--replicates', 'two', '--dry-run', '--root', root]),
    run(['sweep', 'runner/sweep/sweep-example.json', '--dry-run', '--root', root]),
    run(['sweep', 'rewinding', '--setup', 'resnet20', '--dry-run', '--root', root], { EARLYPHASE_DATA: dir }),
  ]);
  assert.equal(shrunk.status, 0, shrunk.err);
  // 4 rewind points × (lottery + instability at level 0); the baseline branch's levels 2,5,8,11 are past level 1.
  assert.match(shrunk.err, /sweep rewinding-lenet-shrunk: 8 jobs \(4 lotteries, 0 branches, 4 instability analyses\)/);
  assert.match(shrunk.out, /1\. lottery: rewind 0it, replicate 2 — not started/);
  assert.doesNotMatch(shrunk.out, /replicate 1\b/);
  assert.equal(bad.status, 2);
  assert.match(bad.err, /--replicates "two": expected positive integers/);
  assert.equal(example.status, 0, example.err);
  assert.match(example.err, /sweep example-lenet: 12 jobs \(4 lotteries, 4 branches, 4 instability analyses\)/);
  assert.equal(resnet.status, 0, resnet.err);
  assert.match(resnet.err, /note: cifar10 is not here/);
  assert.match(resnet.out, /^1\. lottery: rewind 0it, replicate 1 — not started$/m);
});

test('the same sweep with --pack auto writes byte-identical folders (lotteries in lockstep, branch levels and instability copies packed)', async () => {
  const file = join(dir, 'tiny.json');
  writeFileSync(file, JSON.stringify(spec));
  const root = join(dir, 'runs-packed');
  const packed = await run(['sweep', file, '--adapter', 'llvmpipe', '--root', root, '--pack', 'auto']);
  assert.equal(packed.status, 0, packed.err);
  assert.match(packed.err, /--pack auto: 2 runs per pack \(mnist_lenet_300_100 at batch 128: [\d.]+ MiB per run; [\d.]+ GiB from free memory of this machine/);
  assert.match(packed.out, /sweep tiny: 6 jobs done/);
  assert.deepEqual(treeDiff(tree(join(dir, 'runs')), tree(root)), []);
});
