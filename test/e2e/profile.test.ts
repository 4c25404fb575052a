// `earlyphase profile` end to end: LeNet-300-100's training step and evaluation batch on every
// adapter (every dispatch of the step timed once per step, groups adding up to the total), the
// repeat method, a small ResNet-20 step on lavapipe, and bad options rejected before any GPU work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testAdapters } from '../adapters.ts';
import type { ProfileResult, ProfileSection } from '../../runner/tools/profile/profile.ts';
import { earlyphase, NO_GPU } from '../cli.ts';
import { refusedInOneLine } from '../cli-parse.ts';

const run = (args: string[], env: Record<string, string> = {}) => earlyphase(['profile', ...args], { env });
async function profile(args: string[]): Promise<ProfileResult> {
  const r = await run([...args, '--json']);
  assert.equal(r.status, 0, r.err);
  return JSON.parse(r.out) as ProfileResult;
}

const positive = (x: number, what: string) => assert.ok(Number.isFinite(x) && x > 0, `${what} = ${x}`);
const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

/** The invariants every section satisfies whatever the adapter. */
function checkSection(s: ProfileSection, dispatchCount: number, timesPositive: boolean): void {
  assert.equal(s.dispatchCount, dispatchCount, 'the Program\'s dispatches per step');
  assert.equal(s.dispatches.length, dispatchCount, 'one row per dispatch of the step');
  assert.deepEqual(s.dispatches.map((d) => d.index), [...Array(dispatchCount).keys()], 'rows in step order');
  for (const d of s.dispatches) {
    if (timesPositive) positive(d.ms, `${d.label} ms`);
    else assert.ok(Number.isFinite(d.ms) && d.ms >= 0, `${d.label} ms = ${d.ms}`);
    for (const x of d.samples) assert.ok(Number.isFinite(x) && x >= 0, `${d.label} sample ${x}`);
    assert.ok(d.bytes > 0, `${d.label} binds no bytes`);
    // GEMMs state their flops (src/kernels/linear.ts); GFLOP/s is flops / time.
    if (/^linear_(forward|backward_input|backward_weight)$/.test(d.kernel)) {
      assert.ok(d.flops !== null && d.flops > 0, `${d.label} states no flops`);
      if (d.ms > 0) near(d.gflops!, d.flops / d.ms / 1e6, `${d.label} GFLOP/s`);
    }
    if (/^(batch_gather|sgd_masked|softmax_cross_entropy|cross_entropy)/.test(d.kernel)) assert.equal(d.flops, null, `${d.label} flops`);
  }
  const sum = s.dispatches.reduce((a, d) => a + d.ms, 0);
  positive(sum, 'sum of dispatch times');
  near(s.sumMs, sum, 'sumMs');
  for (const groups of [s.kernels, s.layers]) {
    near(groups.reduce((a, g) => a + g.ms, 0), sum, 'group times add up to the total');
    assert.equal(groups.reduce((a, g) => a + g.count, 0), dispatchCount, 'group counts add up to the dispatch count');
    assert.ok(Math.abs(groups.reduce((a, g) => a + g.percent, 0) - 100) < 1e-6, 'percentages add up to 100');
  }
  if (s.method === 'timestamps') positive(s.profiledSubmitMs!, 'profiled submit wall time');
  else assert.equal(s.profiledSubmitMs, null);
  assert.equal(s.singleSubmitMs.reps, s.dispatches[0]!.samples.length, 'one single-submit step per profiled step');
  positive(s.singleSubmitMs.medianMs, 'one step per submit');
  positive(s.pipelined.msPerStep, 'pipelined ms/step');
  near(s.overheadMs, s.pipelined.msPerStep - s.sumMs, 'overhead');
}

test('LeNet-300-100, batch 16: training step and evaluation batch on every adapter', async () => {
  const adapters = await testAdapters();
  console.log(`# profile adapters: ${adapters.join(' | ')}`);
  assert.ok(adapters.length > 0);
  // One process per adapter, at once (structure is checked, not speed).
  const profiles = await Promise.all(adapters.map((adapter) => profile(['--adapter', adapter, '--model', 'mnist_lenet_300_100', '--batch', '16', '--reps', '2', '--mode', 'both'])));
  for (const [i, adapter] of adapters.entries()) {
    const r = profiles[i]!;
    assert.equal(r.model, 'mnist_lenet_300_100');
    assert.equal(r.batch, 16);
    const [train, evaluation] = r.sections;
    assert.equal(train?.mode, 'train');
    assert.equal(evaluation?.mode, 'eval');
    // gather, 3 GEMM forwards, loss, 8 backward dispatches, SGD (the bench's README row: 14 per step)
    checkSection(train!, 14, true);
    // gather, 3 GEMM forwards, loss
    checkSection(evaluation!, 5, true);
    for (const s of r.sections) for (const d of s.dispatches) assert.equal(d.samples.length, 2, 'one sample per profiled step');
    assert.deepEqual(train!.kernels.find((k) => k.name === 'linear_forward')?.count, 3);
    assert.deepEqual(new Set(train!.layers.map((l) => l.name)), new Set(['input', 'l2', 'l4', 'fc', 'fc_layers.0', 'fc_layers.1', 'params']));
    // lavapipe and SwiftShader write real, unquantised timestamps (checked in src/gpu/timing.ts).
    if (/llvmpipe|swiftshader/i.test(adapter)) {
      assert.equal(r.adapter.timestampQuery, true);
      assert.equal(train!.method, 'timestamps', train!.methodNote);
    }
    console.log(`# ${adapter}: ${train!.method}, sum ${train!.sumMs.toFixed(2)} ms, pipelined ${train!.pipelined.msPerStep.toFixed(2)} ms/step`);
  }
});

test('--method repeat: wall clock of repeated dispatches minus an empty submit', async () => {
  const r = await profile(['--adapter', 'llvmpipe', '--model', 'mnist_lenet_300_100', '--batch', '16', '--reps', '1', '--method', 'repeat', '--repeat', '4']);
  const s = r.sections[0]!;
  assert.equal(s.method, 'repeat');
  assert.equal(s.repeat, 4);
  assert.ok(s.baselineMs !== null && s.baselineMs > 0);
  assert.match(s.methodNote, /4x in one pass/);
  checkSection(s, 14, false);
});

test('ResNet-20, batch 2, on lavapipe: every conv layer and residual block accounted for', async () => {
  const r = await profile(['--adapter', 'llvmpipe', '--model', 'cifar_resnet_20', '--batch', '2', '--reps', '1']);
  const s = r.sections[0]!;
  // 'cpu' kernel set: 273 before every weight repack of the step became one dispatch (issue 27).
  checkSection(s, 233, true);
  const kernels = new Map(s.kernels.map((k) => [k.name, k.count]));
  assert.equal(kernels.get('conv2d_forward'), 21, '19 3x3 convs + 2 shortcut convs');
  assert.equal(kernels.get('conv2d_pack_segments'), 1, 'the 21 forward and 20 input-gradient weight repacks in one dispatch');
  assert.equal(kernels.get('add_forward'), 18, '9 residual sums forward and 9 backward');
  const layers = new Map(s.layers.map((l) => [l.name, l.count]));
  assert.ok(layers.has('blocks.0.conv1') && layers.has('blocks.8.bn2') && layers.has('fc'), [...layers.keys()].join(', '));
});

test('--pack 3 on lavapipe: the training step of three LeNets is still 14 dispatches, each doing three networks\' work', async () => {
  const PACK3 = ['--adapter', 'llvmpipe', '--model', 'mnist_lenet_300_100', '--batch', '16', '--reps', '1', '--pack', '3'];
  // Three independent commands (structure is checked, not speed): at once.
  const [one, r, text] = await Promise.all([profile(PACK3.slice(0, -2)), profile(PACK3), run(PACK3)]);
  assert.equal(r.pack, 3);
  const s = r.sections[0]!;
  checkSection(s, 14, true);
  s.dispatches.forEach((d, i) => {
    const alone = one.sections[0]!.dispatches[i]!;
    assert.equal(d.kernel, alone.kernel, `dispatch ${i}`);
    assert.equal(d.label, `${alone.label}×3`, 'a member-fused dispatch is labelled with its member count');
    // The loss binds the pack's [2K] statistics, not one run's [2]: 8 more bytes per member and member.
    assert.equal(d.bytes, 3 * alone.bytes + (/cross_entropy/.test(d.kernel) ? 3 * 2 * 8 : 0), `${d.label} bytes`);
    if (alone.flops !== null) assert.equal(d.flops, 3 * alone.flops, `${d.label} flops`);
  });
  assert.match(text.out, /of a pack of 3 networks \(each dispatch runs all 3; 48 images\), 14 dispatches/);
});

test('bad options ⇒ one line naming the value, exit 2, before any GPU work', async () => {
  const cases: [string[], RegExp][] = [
    [['--model', 'resnet_9000'], /^earlyphase: unknown model "resnet_9000"; the zoo: mnist_lenet_300_100, cifar_conv_2, .*cifar_resnet_20.*cifar_resnet18/],
    [['--batch', '0'], /^earlyphase: --batch must be a positive integer, got "0"$/],
    [['--batch', '2.5'], /^earlyphase: --batch must be a positive integer, got "2.5"$/],
    [['--batch', 'many'], /^earlyphase: --batch must be a positive integer, got "many"$/],
    [['--density', '0'], /^earlyphase: --density must be a number in \(0, 1\] .*got "0"$/],
    [['--density', '1.5'], /^earlyphase: --density must be a number in \(0, 1\] .*got "1.5"$/],
    [['--density', 'half'], /^earlyphase: --density must be a number in \(0, 1\] .*got "half"$/],
    [['--mode', 'infer'], /^earlyphase: --mode must be train, eval or both, got "infer"$/],
    [['--reps', '-1'], /^earlyphase: --reps must be a positive integer, got "-1"$/],
    [['--method', 'guess'], /^earlyphase: --method must be auto, timestamps or repeat, got "guess"$/],
    [['--pack', '0'], /^earlyphase: --pack must be a positive integer, got "0"$/],
    [['--pack', '2', '--mode', 'eval'], /^earlyphase: --pack 2 profiles a pack's training step: use --mode train$/],
  ];
  // Refused while parsing (test/cli-parse.ts)…
  for (const [args, want] of cases) await refusedInOneLine(['profile', ...args], want);
  // …and by the CLI as one line, exit 2, with no Vulkan driver visible (anything that reached the
  // GPU would fail with "no WebGPU adapter found"), while the same command with good options does
  // reach the GPU.
  const [bad, ok] = await Promise.all([run(cases[1]![0], NO_GPU), run(['--model', 'mnist_lenet_300_100'], NO_GPU)]);
  assert.equal(bad.status, 2, bad.err);
  assert.equal(bad.err.trim().split('\n').length, 1, `one line, got ${bad.err}`);
  assert.match(bad.err.trim(), cases[1]![1]);
  assert.equal(ok.status, 2);
  assert.match(ok.err, /no WebGPU adapter found/);
});
