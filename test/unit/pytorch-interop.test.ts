// PyTorch / OpenLTH interop (hardening item 16), both directions, against real PyTorch:
//  - every zoo model's OpenLTH module (runner/tools/interop/openlth_models.py) has exactly our tensor
//    names and shapes, num_batches_tracked included;
//  - a weights file written by encodeWeights (what every run saves) loads into it with
//    load_state_dict(strict=True) and gives our float64 reference model's logits (src/ref/model.ts);
//  - a PyTorch-initialised state_dict saved as safetensors loads with our strict decodeWeights and
//    gives PyTorch's logits; for ResNet-20 also training-mode batch norm (batch statistics, updated
//    running statistics and num_batches_tracked);
//  - the README's five lines ("Load a run in PyTorch") load a run folder's final weights.
// Needs a python3 with torch (Debian: apt-get install python3-torch). Without one the test is
// skipped with that hint, except under CI (process.env.CI), where it fails: CI must run it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Arena } from '../../src/gpu/tensor.ts';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../src/io/safetensors.ts';
import { buffers, parameters, type ModelSpec } from '../../src/nn/graph.ts';
import { initParameters } from '../../src/nn/init.ts';
import { getModel, MODEL_EXAMPLES, type InputShape } from '../../src/nn/zoo.ts';
import { forward, unpack } from '../../src/ref/model.ts';
import { Rng } from '../../src/rng.ts';
import { counterNames } from '../../src/train/bn-counters.ts';
import { decodeWeights, encodeWeights } from '../../src/train/checkpoint.ts';
import { hparamsToJSON } from '../../src/train/hparams/json.ts';
import { presetHparams } from '../../src/train/presets.ts';
import { CHECK_SCRIPT, findTorchPython } from '../../runner/tools/interop/python.ts';
import { tempDir } from '../temp-dir.ts';
import { runCommand } from '../cli.ts';

// Tolerances, relative to the batch's largest |logit| (at least 1). PyTorch in float32 against our
// float64 reference on the same float32 weights and inputs: float32 rounding (2^-24 ≈ 6e-8 per
// operation) accumulated over ResNet-20's 19 layers of up to 576-term sums stays near 1e-6, while a
// structural difference (a missed ReLU, transposed weight, another padding, BN epsilon or
// statistic) moves logits by 1e-3 and more; 1e-4 sits between with two decades of margin each way.
// PyTorch in float64 computes the same sums in another order: agreement to ~1e-13, checked at 1e-9.
const TOL32 = 1e-4;
const TOL64 = 1e-9;
const BATCH = 2;
/** Logits compared for these; every zoo model's names and shapes are compared. */
const LOGIT_MODELS: { name: string; input?: InputShape }[] = [
  { name: 'mnist_lenet_300_100' }, { name: 'cifar_resnet_20' }, { name: 'cifar_conv_2' },
  // The first layer sized to Fashion-MNIST's 1×28×28 images, as our zoo allows.
  { name: 'cifar_resnet_20', input: [1, 28, 28] },
];

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const found = findTorchPython();
// CI=true (what CI services set) makes a missing PyTorch a failure; CI=false or 0 does not.
const inCI = !!process.env.CI && !/^(0|false)$/i.test(process.env.CI);
const dir = tempDir('earlyphase-interop-');

interface Model { spec: ModelSpec; params: Arena; stats: Arena; tag: string; inputArg: string }

function model(name: string, input?: InputShape): Model {
  const spec = getModel(name, input);
  const params = new Arena('params'), stats = new Arena('bn_stats');
  for (const p of parameters(spec.layers)) params.add(p.name, p.shape);
  for (const b of buffers(spec.layers)) stats.add(b.name, b.shape);
  return { spec, params, stats, tag: `${name}_${spec.input.join('x')}`, inputArg: spec.input.join(',') };
}

/** Non-trivial running statistics, so eval-mode batch norm is not close to the identity. */
function randomStats(m: Model, seed: number): Float32Array {
  const rng = new Rng(seed), out = new Float32Array(m.stats.elements);
  for (const { name, offset, shape } of m.stats.layout()) {
    for (let i = 0; i < shape[0]!; i++) out[offset + i] = name.endsWith('.running_var') ? 0.5 + 1.5 * rng.uniform() : 0.1 * rng.normal();
  }
  return out;
}

function writeBatch(m: Model, seed: number): { file: string; x: Float32Array } {
  const rng = new Rng(seed), x = new Float32Array(BATCH * m.spec.input.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const file = join(dir, `batch_${m.tag}.safetensors`);
  writeFileSync(file, encodeSafetensors({ x: { shape: [BATCH, ...m.spec.input], data: x } }));
  return { file, x };
}

const read = (file: string) => decodeSafetensors(new Uint8Array(readFileSync(file)), file).tensors;

/** Largest |a − b| over the largest |b| (at least 1). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let err = 0, scale = 1;
  for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i]! - b[i]!)); scale = Math.max(scale, Math.abs(b[i]!)); }
  return err / scale;
}

const floats = (t: Tensor | undefined, what: string): ArrayLike<number> => {
  assert.ok(t && !(t.data instanceof BigInt64Array), `${what}: missing or not a float tensor`);
  return t.data as ArrayLike<number>;
};

if (!('python' in found)) {
  if (inCI) test('PyTorch interop (CI must run it)', () => assert.fail(`PyTorch interop cannot run: ${found.reason}`));
  else test('PyTorch interop', { skip: found.reason }, () => {});
} else {
  const python = found.python;
  console.log(`# PyTorch interop: ${python}, torch ${found.torch}`);
  // Everything PyTorch has to do, in one process (importing torch takes seconds).
  const jobs: string[][] = [];
  const specJobs = MODEL_EXAMPLES.map((n) => ({ m: model(n), out: join(dir, `spec_${n}.json`) }));
  specJobs.push({ m: model('cifar_conv_2', [1, 28, 28]), out: join(dir, 'spec_cifar_conv_2_fmnist.json') });
  for (const { m, out } of specJobs) jobs.push(['spec', '--model', m.spec.name, '--input', m.inputArg, '--out', out]);

  const cases = LOGIT_MODELS.map(({ name, input }, i) => {
    const m = model(name, input);
    const ours = join(dir, `ours_${m.tag}.safetensors`), theirs = join(dir, `pytorch_${m.tag}.safetensors`);
    const params = initParameters(m.spec, m.params, 7 + i, 'uniform'), stats = randomStats(m, 100 + i);
    writeFileSync(ours, encodeWeights(m.params, m.stats, { params, stats }, { iteration: '40' }));
    const batch = writeBatch(m, 200 + i);
    const out = (what: string) => join(dir, `${what}_${m.tag}.safetensors`);
    const fwd = (weights: string, o: string, ...flags: string[]) =>
      jobs.push(['forward', '--model', name, '--input', m.inputArg, '--weights', weights, '--batch', batch.file, '--out', o, ...flags]);
    fwd(ours, out('ours32')); fwd(ours, out('ours64'), '--float64');
    jobs.push(['init', '--model', name, '--input', m.inputArg, '--seed', String(11 + i), '--out', theirs]);
    fwd(theirs, out('theirs32')); fwd(theirs, out('theirs64'), '--float64');
    if (m.stats.names.length > 0) fwd(ours, out('train64'), '--float64', '--train');
    return { m, ours, theirs, params, stats, batch, out };
  });

  const jobsFile = join(dir, 'jobs.json');
  writeFileSync(jobsFile, JSON.stringify(jobs));
  const t0 = Date.now();
  const r = await runCommand(python, [CHECK_SCRIPT, 'jobs', '--file', jobsFile], { timeoutMs: 600_000 });
  console.log(`# check_interop.py: ${jobs.length} jobs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  test('check_interop.py ran every job (strict loads included)', () => {
    assert.equal(r.status, 0, `${python} ${CHECK_SCRIPT} failed (${r.signal ?? r.status}):\n${r.err}`);
  });

  test('every zoo model: OpenLTH module state_dict = our parameters, running statistics and num_batches_tracked', () => {
    for (const { m, out } of specJobs) {
      const theirs = JSON.parse(readFileSync(out, 'utf8')) as Record<string, { shape: number[]; dtype: string }>;
      const ours: Record<string, { shape: number[]; dtype: string }> = {};
      for (const { name, shape } of [...m.params.layout(), ...m.stats.layout()]) ours[name] = { shape, dtype: 'F32' };
      for (const name of counterNames(m.stats)) ours[name] = { shape: [], dtype: 'I64' };
      assert.deepEqual(theirs, ours, `${m.tag}`);
    }
  });

  for (const c of cases) {
    const { m } = c;
    const tensors = (layout: Arena, flat: Float32Array) => unpack(layout.layout(), flat);
    const x = Float64Array.from(c.batch.x);

    test(`${m.tag}: our weights file in PyTorch (strict) gives our reference logits`, () => {
      const ref = forward(m.spec, tensors(m.params, c.params), tensors(m.stats, c.stats), x, BATCH, false).logits;
      const e32 = relErr(floats(read(c.out('ours32')).get('logits'), 'logits'), ref);
      const e64 = relErr(floats(read(c.out('ours64')).get('logits'), 'logits'), ref);
      console.log(`# ${m.tag} ours → PyTorch: float32 ${e32.toExponential(2)}, float64 ${e64.toExponential(2)}`);
      assert.ok(e32 <= TOL32 && e64 <= TOL64, `logits differ: float32 ${e32}, float64 ${e64}`);
    });

    test(`${m.tag}: a PyTorch state_dict loads with our strict decodeWeights and gives PyTorch's logits`, () => {
      const w = decodeWeights(new Uint8Array(readFileSync(c.theirs)), c.theirs, m.params, m.stats);
      const ref = forward(m.spec, tensors(m.params, w.params), tensors(m.stats, w.stats), x, BATCH, false).logits;
      const e32 = relErr(floats(read(c.out('theirs32')).get('logits'), 'logits'), ref);
      const e64 = relErr(floats(read(c.out('theirs64')).get('logits'), 'logits'), ref);
      console.log(`# ${m.tag} PyTorch → ours: float32 ${e32.toExponential(2)}, float64 ${e64.toExponential(2)}`);
      assert.ok(e32 <= TOL32 && e64 <= TOL64, `logits differ: float32 ${e32}, float64 ${e64}`);
    });

    if (m.stats.names.length > 0) {
      test(`${m.tag}: training-mode batch norm: same logits, running statistics and num_batches_tracked`, () => {
        const ref = forward(m.spec, tensors(m.params, c.params), tensors(m.stats, c.stats), x, BATCH, true);
        const py = read(c.out('train64'));
        assert.ok(relErr(floats(py.get('logits'), 'logits'), ref.logits) <= TOL64, 'logits');
        for (const [name, v] of ref.stats) assert.ok(relErr(floats(py.get(name), name), v) <= TOL64, name);
        for (const name of counterNames(m.stats)) assert.deepEqual(py.get(name)?.data, BigInt64Array.of(41n), name);
      });
    }
  }

  test("README: the five lines of Python load a run folder's final weights (strict) and run them", async () => {
    const c = cases.find((k) => k.m.tag === 'cifar_resnet_20_3x32x32')!;
    const run = join(dir, 'train_fixture', 'replicate_1', 'main');
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'hparams.json'), JSON.stringify(hparamsToJSON(presetHparams('cifar_resnet_20'))));
    // An earlier file with other weights: load_run must take the last one (epoch 2 > epoch 0 it 9).
    const early = initParameters(c.m.spec, c.m.params, 99, 'uniform');
    writeFileSync(join(run, 'model_ep0_it9.safetensors'), encodeWeights(c.m.params, c.m.stats, { params: early, stats: c.stats }, { iteration: '9' }));
    writeFileSync(join(run, 'model_ep2_it0.safetensors'), readFileSync(c.ours));
    const block = /### Load a run in PyTorch[\s\S]*?```python\n([\s\S]*?)```/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    assert.ok(block, 'README has no python block under "Load a run in PyTorch"');
    const lines = block[1]!.trim().split('\n');
    assert.equal(lines.length, 5, block[1]);
    const code = block[1]!.replace("'runs/train_<hash>/replicate_1/main'", JSON.stringify(run)) +
      `import json, safetensors_io\nprint(weights)\nprint(json.dumps(model(safetensors_io.load(${JSON.stringify(c.batch.file)})[0]['x']).tolist()))\n`;
    const r = await runCommand(python, ['-c', code], { cwd: ROOT, timeoutMs: 300_000 });
    assert.equal(r.status, 0, r.err);
    const [weights, logits] = r.out.trim().split('\n');
    assert.equal(weights, join(run, 'model_ep2_it0.safetensors'));
    const ref = forward(c.m.spec, unpack(c.m.params.layout(), c.params), unpack(c.m.stats.layout(), c.stats), Float64Array.from(c.batch.x), BATCH, false).logits;
    assert.ok(relErr((JSON.parse(logits!) as number[][]).flat(), ref) <= TOL32);
  });

  test('the Python safetensors reader refuses malformed files with one line naming the file', async () => {
    const good = readFileSync(cases[0]!.ours);
    const n = Number(good.readBigUInt64LE(0));
    const bad: [string, Uint8Array][] = [
      ['truncated', good.subarray(0, good.length - 1)],
      ['short', good.subarray(0, 5)],
      ['header past the end', good.subarray(0, 8 + n - 1)],
      ['tail', Buffer.concat([good, Buffer.alloc(4)])],
    ];
    const files = bad.map(([what, bytes]) => { const f = join(dir, `bad_${what.replace(/ /g, '_')}.safetensors`); writeFileSync(f, bytes); return f; });
    const code = 'import sys, safetensors_io\nfor f in sys.argv[1:]:\n    try:\n        safetensors_io.load(f); print("loaded " + f)\n    except safetensors_io.SafetensorsError as e:\n        print(e)\n';
    const r = await runCommand(python, ['-c', code, ...files], { cwd: join(ROOT, 'runner', 'tools', 'interop'), timeoutMs: 120_000 });
    assert.equal(r.status, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, files.length, r.out);
    files.forEach((f, i) => assert.ok(lines[i]!.startsWith(`${f}: `), lines[i]));
    assert.match(lines[0]!, /run past the data section|start/);
    assert.match(lines[3]!, /belong to no tensor/);
  });
}
