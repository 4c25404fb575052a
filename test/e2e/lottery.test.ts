// `earlyphase lottery` and `earlyphase branch` end to end on a tiny Fashion-MNIST subsample
// (lavapipe): the IMP invariants read back from the run folders, the pinned folder hash, resume
// and recomputation of a corrupt mask, and bad input rejected before any GPU work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors } from '../../src/io/safetensors.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { parameters } from '../../src/nn/graph.ts';
import { tempDir } from '../temp-dir.ts';
import { floatTensors } from '../float-tensors.ts';
import { earlyphase, NO_GPU } from '../cli.ts';
import { refused } from '../cli-parse.ts';
import { copyFixture, lenetLottery } from '../fixtures.ts';

const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '2ep', '--rewinding-steps', '5it', '--adapter', 'llvmpipe', '--quiet', '--evaluate-only-at-end'];
const BRANCH_REINIT_DIR = 'branch_randomly_reinitialize_b508719b5a';

const run = (args: string[], env: Record<string, string> = {}) => earlyphase(args, { env });
const tensors = (p: string) => floatTensors(decodeSafetensors(new Uint8Array(readFileSync(p)), p).tensors, p);
const prunable = parameters(getModel('mnist_lenet_300_100').layers).filter((p) => p.prunable).map((p) => p.name);

// Levels 0–2 and a randomly_reinitialize branch at levels 1–2 come from a shared fixture (the same
// commands, test/fixtures.ts); the tests below train level 3, the other branches and instability.
const root = copyFixture(await lenetLottery(), 'earlyphase-lottery-');
const trunk = () => join(root, readdirSync(root).find((d) => d.startsWith('lottery_'))!, 'replicate_1');

test('lottery: folder hash, densities 0.8^L, masks prune the smallest surviving weights, levels start at mask ⊙ w_k', async () => {
  const r = await run(['lottery', ...FLAGS, '--levels', '3', '--root', root]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /level\s+weights remaining\s+test accuracy/);
  // Pinned: changing the hash scheme would orphan every existing run folder.
  assert.deepEqual(readdirSync(root), ['lottery_06562088fc']);
  const t = trunk();
  // The rewind point is recorded in the lottery's own file.
  const record = JSON.parse(readFileSync(join(t, 'lottery.json'), 'utf8'));
  assert.deepEqual([record.rewinding_steps, record.rewind_iteration, record.iterations_per_epoch], ['5it', 5, 10]);
  // 20 iterations per run (1,200 examples / 128 → 10 per epoch); k = 5 → model_ep0_it5.
  const wk = tensors(join(t, 'level_0/main/model_ep0_it5.safetensors'));
  // Level 0 has OpenLTH's dense mask and sparsity report too.
  assert.deepEqual(JSON.parse(readFileSync(join(t, 'level_0/main/sparsity_report.json'), 'utf8')).unpruned, 266_200);
  assert.ok([...tensors(join(t, 'level_0/main/mask.safetensors')).values()].every((m) => m.data.every((v) => v === 1)));
  for (let level = 1; level <= 3; level++) {
    const dir = join(t, `level_${level}/main`);
    const report = JSON.parse(readFileSync(join(dir, 'sparsity_report.json'), 'utf8'));
    assert.ok(Math.abs(report.unpruned / report.total - 0.8 ** level) < 0.01, `level ${level} density ${report.unpruned / report.total}`);
    const mask = tensors(join(dir, 'mask.safetensors'));
    const prevMask = level > 1 ? tensors(join(t, `level_${level - 1}/main/mask.safetensors`)) : null;
    const prevFinal = tensors(join(t, `level_${level - 1}/main/model_ep2_it0.safetensors`));
    // Global magnitude pruning over the prunable tensors except the ignored output layer.
    const candidates: { name: string; i: number; m: number }[] = [];
    let remaining = 0;
    for (const name of prunable) {
      const w = prevFinal.get(name)!.data, pm = prevMask?.get(name)!.data;
      for (let i = 0; i < w.length; i++) {
        if (pm && pm[i] === 0) continue;
        remaining++;
        if (name !== 'fc.weight') candidates.push({ name, i, m: Math.abs(w[i]!) });
      }
    }
    // OpenLTH's rule: threshold = the count-th smallest |w| (0-based); every |w| <= threshold goes.
    candidates.sort((a, b) => a.m - b.m);
    const threshold = candidates[Math.ceil(0.2 * remaining)]!.m;
    const pruned = new Set(candidates.filter((c) => c.m <= threshold).map((c) => `${c.name}:${c.i}`));
    for (const name of prunable) {
      const m = mask.get(name)!.data, pm = prevMask?.get(name)!.data;
      for (let i = 0; i < m.length; i++) {
        const expected = (pm && pm[i] === 0) || pruned.has(`${name}:${i}`) ? 0 : 1;
        assert.equal(m[i], expected, `level ${level} ${name}[${i}]`);
      }
    }
    // The level starts bitwise at mask ⊙ w_k (and BN statistics / biases from w_k).
    const start = tensors(join(dir, 'model_ep0_it5.safetensors'));
    for (const [name, tw] of start) {
      const m = mask.get(name)?.data;
      const ref = wk.get(name)!.data;
      for (let i = 0; i < tw.data.length; i++) assert.ok(Object.is(tw.data[i], m && m[i] === 0 ? 0 : ref[i]), `level ${level} start ${name}[${i}]`);
    }
    // After training, pruned weights and their momenta are exactly 0.
    const ck = tensors(join(dir, 'checkpoint.safetensors'));
    for (const name of prunable) {
      const m = mask.get(name)!.data, w = ck.get(name)!.data, mom = ck.get(`momentum/${name}`)!.data;
      for (let i = 0; i < m.length; i++) if (m[i] === 0) assert.ok(w[i] === 0 && mom[i] === 0, `level ${level} ${name}[${i}] moved`);
    }
  }
});

test('lottery re-run skips finished levels; a corrupt mask is reported, recomputed and identical', async () => {
  const maskPath = join(trunk(), 'level_2/main/mask.safetensors');
  const before = readFileSync(maskPath);
  const corrupted = Buffer.from(before);
  corrupted[corrupted.length - 1] ^= 1;
  writeFileSync(maskPath, corrupted);
  rmSync(join(trunk(), 'level_2/main/done.json'));
  const r = await run(['lottery', ...FLAGS, '--levels', '3', '--root', root]);
  assert.equal(r.status, 0, r.err);
  assert.match(r.err, /mask\.safetensors.*corrupt.*recomputing/s);
  assert.deepEqual(readFileSync(maskPath), before);
});

test('branch: randomly_reinitialize and sign_preserving_reinit run from the trunk and keep the mask', async () => {
  for (const [name, extra] of [['randomly_reinitialize', []], ['sign_preserving_reinit', []], ['randomly_prune', ['--strategy', 'global']]] as const) {
    const r = await run(['branch', name, ...extra, ...FLAGS, '--levels', '2-2', '--root', root]);
    assert.equal(r.status, 0, `${name}: ${r.err}`);
    const dir = readdirSync(join(trunk(), 'level_2')).find((d) => d.startsWith(`branch_${name}_`));
    assert.ok(dir, `no branch folder for ${name}`);
    if (name === 'randomly_reinitialize') assert.equal(dir, BRANCH_REINIT_DIR, 'branch folder hash is pinned');
    const start = tensors(join(trunk(), 'level_2', dir!, 'model_ep0_it5.safetensors'));
    const mask = tensors(join(trunk(), 'level_2/main/mask.safetensors'));
    let zeros = 0, total = 0;
    for (const p of prunable) {
      const w = start.get(p)!.data, m = mask.get(p)!.data;
      for (let i = 0; i < w.length; i++) {
        total++;
        if (w[i] === 0) zeros++;
        if (name !== 'randomly_prune' && m[i] === 0) assert.equal(w[i], 0, `${name} ${p}[${i}] not pruned`);
      }
    }
    assert.ok(Math.abs(1 - zeros / total - 0.64) < 0.01, `${name}: density ${1 - zeros / total}`);
  }
});

test('bad input fails before GPU work: branch before trunk, levels, rewind past the end, pruning fraction', async () => {
  const empty = tempDir('earlyphase-empty-');
  // Found only once the run folder or the data is looked at: as processes, with no Vulkan driver visible.
  const processes: [string[], RegExp][] = [
    [['branch', 'sign_preserving_reinit', ...FLAGS, '--levels', '2-2', '--root', empty], /trunk has no .*level_2.*mask\.safetensors.*earlyphase lottery/],
    [['lottery', ...FLAGS, '--levels', '3', '--rewinding-steps', '9ep', '--root', empty], /9ep.*past the end of training/],
  ];
  for (const [[args, msg], r] of await Promise.all(processes.map(async (c) => [c, await run(c[0], NO_GPU)] as const))) {
    assert.equal(r.status, 2, `${args.slice(0, 2).join(' ')}: ${r.err}`);
    assert.match(r.err, msg);
    assert.doesNotMatch(r.err, /Vulkan|adapter found|    at /);
  }
  // Found while parsing the command line (test/cli-parse.ts).
  const parsed: [string[], RegExp][] = [
    [['lottery', ...FLAGS, '--levels', '5-3', '--root', empty], /5-3/],
    [['lottery', ...FLAGS, '--levels', '3', '--pruning-fraction', '1.5', '--root', empty], /pruning.fraction.*1\.5/],
    [['branch', 'gaussian_noise', ...FLAGS, '--levels', '2-2', '--alpha', '-1', '--root', root], /alpha.*-1/],
    [['branch', 'no_such_branch', ...FLAGS, '--root', root], /unknown branch "no_such_branch"/],
  ];
  for (const [args, msg] of parsed) await refused(args, msg);
  assert.equal(existsSync(join(empty, 'lottery_06562088fc')), false);
});

test('pre-training on rotation: a 4-way head trained, replaced by a fresh 10-way head, pre-trained weights are the rewind point', async () => {
  const proot = tempDir('earlyphase-pretrain-');
  const flags = FLAGS.filter((f) => f !== '--rewinding-steps' && f !== '5it');
  const r = await run(['lottery', ...flags, '--levels', '1', '--pretrain', '--pretrain-unsupervised-labels', 'rotation',
    '--pretrain-training-steps', '1ep', '--root', proot]);
  assert.equal(r.status, 0, r.err);
  const t = join(proot, readdirSync(proot)[0]!, 'replicate_1');
  const pre = tensors(join(t, 'pretrain/main/model_ep1_it0.safetensors'));
  assert.deepEqual(pre.get('fc.weight')!.shape, [4, 100], 'rotation head has 4 outputs');
  // Pre-training counts against the budget: level 0 starts at P = 10 iterations = 1 epoch.
  const start = tensors(join(t, 'level_0/main/model_ep1_it0.safetensors'));
  assert.deepEqual(start.get('fc.weight')!.shape, [10, 100]);
  for (const name of ['fc_layers.0.weight', 'fc_layers.1.bias']) {
    assert.deepEqual(start.get(name)!.data, pre.get(name)!.data, `${name} is the pre-trained tensor`);
  }
  const init = tensors(join(t, 'pretrain/main/model_ep0_it0.safetensors'));
  assert.notDeepEqual(start.get('fc_layers.0.weight')!.data, init.get('fc_layers.0.weight')!.data, 'pre-training changed the weights');
  // Level 1 rewinds to the pre-trained weights (masked).
  const l1 = tensors(join(t, 'level_1/main/model_ep1_it0.safetensors'));
  const mask = tensors(join(t, 'level_1/main/mask.safetensors')).get('fc_layers.0.weight')!.data;
  const w = l1.get('fc_layers.0.weight')!.data, wk = start.get('fc_layers.0.weight')!.data;
  for (let i = 0; i < w.length; i++) assert.ok(Object.is(w[i], mask[i] === 0 ? 0 : wk[i]));
});

test('instability: identical data orders give identical copies and a zero barrier; different orders are measured', async () => {
  const IFLAGS = FLAGS.filter((f) => f !== '--evaluate-only-at-end'); // the copies are only evaluated at the end anyway
  const same = await run(['instability', ...IFLAGS, '--levels', '2-2', '--points', '3', '--same-order', '--root', root]);
  assert.equal(same.status, 0, same.err);
  const dirs = readdirSync(join(trunk(), 'level_2')).filter((d) => d.startsWith('instability_'));
  assert.equal(dirs.length, 1);
  const s = JSON.parse(readFileSync(join(trunk(), 'level_2', dirs[0]!, 'instability.json'), 'utf8'));
  assert.deepEqual(s.alphas, [0, 0.5, 1]);
  assert.equal(s.barrier, 0);
  assert.ok(s.errors.every((e: number) => e === s.errors[0]), `errors along the line differ: ${s.errors}`);
  const diff = await run(['instability', ...IFLAGS, '--levels', '2-2', '--points', '3', '--root', root]);
  assert.equal(diff.status, 0, diff.err);
  assert.match(diff.out, /barrier/);
  const d = readdirSync(join(trunk(), 'level_2')).filter((x) => x.startsWith('instability_')).find((x) => x !== dirs[0])!;
  const j = JSON.parse(readFileSync(join(trunk(), 'level_2', d, 'instability.json'), 'utf8'));
  const a = readFileSync(join(trunk(), 'level_2', d, 'copy_1/model_ep2_it0.safetensors'));
  const b = readFileSync(join(trunk(), 'level_2', d, 'copy_2/model_ep2_it0.safetensors'));
  assert.notDeepEqual(a, b, 'different data orders must give different networks');
  assert.ok(j.barrier >= 0 && j.barrier < 1);
});
