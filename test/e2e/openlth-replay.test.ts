// Results that agree with OpenLTH's (issue 22): an earlyphase lottery (level 0, then level 1 pruned
// and rewound to k) replayed by PyTorch's own training loop as OpenLTH trains and prunes
// (runner/tools/interop/openlth_replay.py), from the same starting weights (`--init-weights`) and the
// same batch composition (`earlyphase batches`). Both networks cross epoch ends whose last batch is
// short. Checked:
//  - every batch we export is OpenLTH's chunk of the epoch's permutation (the short last batch);
//  - our level-1 mask is exactly OpenLTH's sparse_global rule applied to our level-0 final weights,
//    and level 1 starts at mask ⊙ w_k bit for bit;
//  - LeNet-300-100 (no batch norm): both levels' weights agree to float32 tolerance after 100 and 90
//    iterations (PyTorch's CPU kernels sum in other orders, so bitwise equality is not expected);
//  - ResNet-8 (batch norm, crop + flip, momentum, weight decay, a milestone): free-running, the two
//    part within tens of iterations however exact both are (a pre-activation within rounding of 0
//    takes the other side of a ReLU in one of them, and the dynamics amplify it; see the script's
//    docstring), so the trajectories only get a loose bound; instead one OpenLTH step from each of
//    our saved states must land on our next state, for every iteration;
//  - the checks have teeth: --pad-last-batch (earlyphase 0.1's full last batch) lands far outside
//    the tolerance, and --pruning-exact-count gives another mask.
// Needs a python3 with torch; without one the test is skipped with the install hint, except under
// CI (process.env.CI), where it fails: CI must run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors, type Tensor } from '../../src/io/safetensors.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import { encodeWeights } from '../../src/train/checkpoint.ts';
import { stateLayout } from '../../src/nn/model-state.ts';
import { weightsFileName } from '../../src/train/run-files.ts';
import { CHECK_SCRIPT, REPLAY_SCRIPT, findTorchPython } from '../../runner/tools/interop/python.ts';
import { fastestTestAdapter } from '../adapters.ts';
import { earlyphase, runCommand, type Result } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

// One OpenLTH step from our state against our next state (ResNet, every iteration), relative to the
// size of the step: measured ≤ 3e-5 for the parameters and ≤ 1e-5 for the batch-norm statistics;
// a ReLU flip moves one step's parameters by up to 1.5e-3 (not the statistics, which the forward
// pass alone sets); a padded last batch moves both by ~1e-1.
const STEP_PARAMS_TOL = 1e-2;
const STEP_STATS_TOL = 1e-3;

interface Case {
  name: string;
  /** Hyperparameter flags, shared by `lottery`, `train` and `batches`. */
  flags: string[];
  rewind: number;
  /** The starting weights: a PyTorch state_dict (check_interop.py init) or our own weights file. */
  init: 'pytorch' | 'ours';
  input: [number, number, number];
  /**
   * How far the free-running trajectories may part: the largest difference relative to a tensor's
   * largest |value| ('tensor'), or the relative L2 difference over every tensor ('global').
   */
  free: { metric: 'tensor' | 'global'; tol: number; why: string };
  /** Run the negative controls (--pad-last-batch, --pruning-exact-count). */
  controls?: boolean;
  /** Check one OpenLTH step from each of our states (a `train` run saving every iteration). */
  teacher?: boolean;
}

const CASES: Case[] = [
  {
    // OpenLTH's LeNet recipe (SGD lr 0.1, no momentum) plus a milestone; 900 examples at 32 are
    // 29 iterations per epoch, the last with 4, so 100 iterations cross three epoch ends.
    name: 'mnist_lenet_300_100', init: 'pytorch', rewind: 10, input: [1, 28, 28], controls: true,
    flags: ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.015',
      '--batch-size', '32', '--training-steps', '100it', '--milestone-steps', '60it', '--gamma', '0.5'],
    // Measured ≤ 6e-7; a padded last batch: 0.17.
    free: { metric: 'tensor', tol: 1e-4, why: 'float32 tolerance' },
  },
  {
    // OpenLTH's CIFAR ResNet recipe (lr 0.1, momentum 0.9, weight decay 1e-4, a milestone) at width
    // 4 on synthetic 3×32×32 images with crop + flip: 205 examples at 16 are 13 iterations per
    // epoch, the last with 13, so 26 iterations end two epochs with a short batch.
    name: 'cifar_resnet_8_4', init: 'ours', rewind: 5, input: [3, 32, 32], teacher: true,
    flags: ['--default-hparams', 'cifar_resnet_20', '--model-name', 'cifar_resnet_8_4', '--dataset-name', 'synthetic',
      '--subsample-fraction', '0.1', '--batch-size', '16', '--training-steps', '26it', '--milestone-steps', '20it'],
    // Measured 2e-7 to 5e-3 over six replicates (ReLU flips, amplified); a padded last batch: 1e-2.
    free: { metric: 'global', tol: 5e-2, why: 'a bound on free-running chaos, not a precision check (the per-step check is)' },
  },
];

const floatsOf = (file: string): Map<string, Tensor> => decodeSafetensors(new Uint8Array(readFileSync(file)), file).tensors;
const metaOf = (file: string): Record<string, string> => decodeSafetensors(new Uint8Array(readFileSync(file)), file).metadata;

interface Difference { abs: number; rel: number; worst: string; global: number }

/**
 * Our tensors against the replay's `<prefix><name>` ones: the largest |a − b|, the largest of it
 * relative to the tensor's largest |b| (and which tensor), and ‖a − b‖ / ‖b‖ over all of them.
 */
function difference(ours: Map<string, Tensor>, theirs: Map<string, Tensor>, prefix: string): Difference {
  let abs = 0, rel = 0, worst = '', num = 0, den = 0;
  for (const [key, t] of theirs) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length), o = ours.get(name);
    assert.ok(o && !(o.data instanceof BigInt64Array), `our file lacks ${name}`);
    assert.equal(o.data.length, t.data.length, name);
    let d = 0, scale = 0;
    for (let i = 0; i < t.data.length; i++) {
      const a = Number(o.data[i]), b = Number(t.data[i]);
      d = Math.max(d, Math.abs(a - b));
      scale = Math.max(scale, Math.abs(b));
      num += (a - b) ** 2; den += b ** 2;
    }
    abs = Math.max(abs, d);
    const r = d / Math.max(scale, 1e-12);
    if (r >= rel) { rel = r; worst = name; }
  }
  assert.ok(den > 0, `no ${prefix} tensors to compare`);
  return { abs, rel, worst, global: Math.sqrt(num / den) };
}

const fmt = (d: Difference) => `max abs ${d.abs.toExponential(2)}, max rel ${d.rel.toExponential(2)} (${d.worst}), L2 rel ${d.global.toExponential(2)}`;
const measure = (c: Case, d: Difference) => (c.free.metric === 'tensor' ? d.rel : d.global);

/** Seconds per command, printed at the end: where the test's time goes. */
const timings: string[] = [];

function ok(r: Result, what: string): Result {
  timings.push(`${what} ${r.seconds.toFixed(1)}`);
  assert.ok(!r.timedOut, `${what} timed out\n${r.err}`);
  assert.equal(r.status, 0, `${what} failed (${r.signal ?? r.status}):\n${r.err.slice(-3000)}`);
  return r;
}

const found = findTorchPython();
const inCI = !!process.env.CI && !/^(0|false)$/i.test(process.env.CI);

if (!('python' in found)) {
  if (inCI) test('OpenLTH replay (CI must run it)', () => assert.fail(`the OpenLTH replay cannot run: ${found.reason}`));
  else test('OpenLTH replay', { skip: found.reason }, () => {});
} else {
  const python = found.python;
  const dir = tempDir('earlyphase-replay-');
  const adapter = await fastestTestAdapter();
  const cli = (args: string[]) => earlyphase([...args, '--adapter', adapter], { timeoutMs: 240_000 });
  const py = (args: string[]) => runCommand(python, args, { timeoutMs: 240_000 });
  const t0 = Date.now();

  for (const c of CASES) {
    const root = join(dir, c.name), init = join(dir, `init_${c.name}.safetensors`);
    const batches = join(dir, `batches_${c.name}.safetensors`), replay = join(dir, `replay_${c.name}.safetensors`);
    const lotteryFlags = [...c.flags, '--rewinding-steps', `${c.rewind}it`, '--levels', '1', '--init-weights', init, '--quiet', '--evaluate-only-at-end'];
    /** What the first test learns and the controls reuse. */
    const run = { perEpoch: 0, total: 0 };

    test(`${c.name}: our lottery and OpenLTH's recipe in PyTorch agree`, { timeout: 600_000 }, async () => {
      if (c.init === 'pytorch') {
        // PyTorch's own initialisation, as a state_dict saved by runner/tools/interop/safetensors_io.py.
        ok(await py([CHECK_SCRIPT, 'init', '--model', c.name, '--input', c.input.join(','), '--seed', '5', '--out', init]), 'check_interop.py init');
      } else {
        // Our weights-file format, from a seed no replicate uses: the run must start from the file, not from its own seed.
        const spec = getModel(c.name, c.input), { params, stats } = stateLayout(spec);
        writeFileSync(init, encodeWeights(params, stats, { params: initParameters(spec, params, 987, 'uniform'), stats: initRunningStats(stats) }, { iteration: '0' }));
      }
      ok(await cli(['lottery', ...lotteryFlags, '--root', root]), 'earlyphase lottery');
      ok(await cli(['batches', ...c.flags, '--with-images', '--out', batches]), 'earlyphase batches');
      const trunk = join(root, readdirSync(root).find((d) => d.startsWith('lottery_'))!, 'replicate_1');
      const record = JSON.parse(readFileSync(join(trunk, 'lottery.json'), 'utf8')) as { iterations_per_epoch: number; total_iterations: number; rewind_iteration: number };
      assert.equal(record.rewind_iteration, c.rewind);
      Object.assign(run, { perEpoch: record.iterations_per_epoch, total: record.total_iterations });
      const file = (it: number) => weightsFileName(it, run.perEpoch);
      const level = (l: number, f = file(run.total)) => join(trunk, `level_${l}`, 'main', f);

      // The teacher run: level 0 again as `train`, its weights saved at every iteration.
      let teacher: string[] = [];
      if (c.teacher) {
        const every = Array.from({ length: run.total - 1 }, (_, i) => `${i + 1}it`).join(',');
        const r = ok(await cli(['train', ...c.flags, '--init-weights', init, '--save-steps', every, '--quiet', '--evaluate-only-at-end', '--root', join(dir, 'teacher')]), 'earlyphase train (teacher run)');
        const folder = (JSON.parse(r.out) as { run: string }).run;
        // Same hyperparameters, replicate and starting weights: bitwise the lottery's level 0.
        assert.deepEqual(floatsOf(join(folder, file(run.total))), floatsOf(level(0)), 'train and lottery level 0 from the same flags must end bitwise equal');
        teacher = ['--teacher', folder];
      }
      ok(await py([REPLAY_SCRIPT, '--hparams', level(0, 'hparams.json'), '--batches', batches, '--init', init,
        '--rewind', String(c.rewind), '--prune-from', level(0), '--out', replay, ...teacher]), 'openlth_replay.py');
      const theirs = floatsOf(replay), meta = metaOf(replay);

      // Every batch we train on is OpenLTH's: the epoch's permutation chunked by B, the last chunk short.
      assert.deepEqual(JSON.parse(meta.composition_mismatches!), { count: 0, first: [] }, 'exported batches differ from OpenLTH\'s chunking');
      const sizes = [...(floatsOf(batches).get('batch_sizes')!.data as Int32Array)];
      const examples = Number(metaOf(batches).examples), B = Number(metaOf(batches).batch_size);
      assert.ok(examples % B !== 0 && sizes.filter((n) => n === examples % B).length >= 2, `the run must cross epoch ends with a short batch (${examples} examples at ${B})`);

      // Level 0 starts at the file's weights; level 1 at mask ⊙ w_k (batch-norm statistics from w_k).
      const given = floatsOf(init), wk = floatsOf(level(0, file(c.rewind))), ourMask = floatsOf(level(1, 'mask.safetensors'));
      for (const [name, t] of floatsOf(level(0, file(0)))) if (!(t.data instanceof BigInt64Array)) assert.deepEqual(t.data, given.get(name)!.data, `level 0 starts at ${name} of --init-weights`);
      for (const [name, t] of floatsOf(level(1, file(c.rewind)))) {
        if (t.data instanceof BigInt64Array) continue;
        const m = ourMask.get(name)?.data, w = wk.get(name)!.data as Float32Array;
        assert.deepEqual(t.data, m ? w.map((v, i) => (m[i] ? v : 0)) : w, `level 1 starts at mask ⊙ w_k for ${name}`);
      }

      // Our level-1 mask is OpenLTH's rule on our level-0 weights, bit for bit.
      let masked = 0;
      for (const [key, t] of theirs) {
        if (!key.startsWith('mask_1/')) continue;
        const name = key.slice('mask_1/'.length);
        assert.deepEqual([...ourMask.get(name)!.data], [...t.data], `level 1 mask of ${name} is not OpenLTH's sparse_global on our level-0 weights`);
        masked++;
      }
      assert.equal(masked, ourMask.size, 'the replay and our mask name the same prunable tensors');

      const dk = difference(wk, theirs, 'w_k/'), d0 = difference(floatsOf(level(0)), theirs, 'level_0/'), d1 = difference(floatsOf(level(1)), theirs, 'level_1/');
      console.log(`# ${c.name}, free-running: w_k (${c.rewind} it) ${fmt(dk)}; level 0 (${run.total} it) ${fmt(d0)}; level 1 ${fmt(d1)}; PyTorch ${meta.seconds} s`);
      for (const [what, d] of [['w_k', dk], ['level 0', d0], ['level 1', d1]] as const) {
        assert.ok(measure(c, d) <= c.free.tol, `${what} differs from PyTorch's by more than ${c.free.tol} (${c.free.why}): ${fmt(d)}`);
      }

      if (c.teacher) {
        const steps = JSON.parse(meta.teacher!) as { iteration: number; batch: number; params_step: number; stats_step: number; tensor: number }[];
        assert.equal(steps.length, run.total);
        const top = (k: 'params_step' | 'stats_step' | 'tensor') => steps.reduce((a, s) => (s[k] > a[k] ? s : a));
        const short = steps.filter((s) => s.batch !== B).map((s) => `it ${s.iteration} (${s.batch}): ${s.params_step.toExponential(1)}/${s.stats_step.toExponential(1)}`);
        console.log(`# ${c.name}, one OpenLTH step from each of our states, relative to the step: parameters ≤ ${top('params_step').params_step.toExponential(2)} ` +
          `(it ${top('params_step').iteration}), statistics ≤ ${top('stats_step').stats_step.toExponential(2)} (it ${top('stats_step').iteration}); ` +
          `largest per-tensor ${top('tensor').tensor.toExponential(2)}; short batches ${short.join(', ')}`);
        for (const s of steps) {
          assert.ok(s.params_step <= STEP_PARAMS_TOL && s.stats_step <= STEP_STATS_TOL,
            `iteration ${s.iteration} (batch of ${s.batch}): one OpenLTH step from our state misses our next by ${s.params_step} (parameters), ${s.stats_step} (statistics), relative to the step`);
        }
      }
    });

    if (!c.controls) continue;

    test(`${c.name}: the checks have teeth — --pad-last-batch and --pruning-exact-count fail them`, { timeout: 600_000 }, async () => {
      assert.ok(run.total > 0, 'the replay test above must have run');
      const theirs = floatsOf(replay);
      // earlyphase 0.1's full last batch, from the same weights and the same permutations.
      const r = ok(await cli(['train', ...c.flags, '--pad-last-batch', '--init-weights', init, '--quiet', '--evaluate-only-at-end', '--root', join(dir, 'pad')]), 'train --pad-last-batch');
      const pad = JSON.parse(r.out) as { run: string };
      const d = difference(floatsOf(join(pad.run, weightsFileName(run.total, run.perEpoch))), theirs, 'level_0/');
      console.log(`# ${c.name} --pad-last-batch against PyTorch: ${fmt(d)}`);
      assert.ok(measure(c, d) > 100 * c.free.tol, `a padded last batch should land far outside the tolerance ${c.free.tol}: ${fmt(d)}`);

      // The exact-count rule (earlyphase 0.1) prunes one weight fewer than OpenLTH's threshold.
      const exactRoot = join(dir, 'exact');
      ok(await cli(['lottery', ...lotteryFlags, '--pruning-exact-count', '--root', exactRoot]), 'lottery --pruning-exact-count');
      const exact = floatsOf(join(exactRoot, readdirSync(exactRoot).find((f) => f.startsWith('lottery_'))!, 'replicate_1', 'level_1', 'main', 'mask.safetensors'));
      let differ = 0;
      for (const [name, t] of exact) {
        const o = theirs.get(`mask_1/${name}`)!.data;
        for (let i = 0; i < t.data.length; i++) if (Number(t.data[i]) !== Number(o[i])) differ++;
      }
      console.log(`# ${c.name} --pruning-exact-count: level 1 mask differs from OpenLTH's rule at ${differ} weight(s)`);
      assert.ok(differ > 0, 'the exact-count mask should differ from OpenLTH\'s threshold rule');
    });
  }
  test('timing', () => { console.log(`# OpenLTH replay test: ${((Date.now() - t0) / 1000).toFixed(1)} s (${timings.join(', ')} s)`); });
}
