// Whole models on the GPU against the float64 reference model (src/ref/model.ts): compiled by
// src/nn/compile.ts, run as a Program step of training-mode forward + softmax cross-entropy +
// backward (twice, without an update), then every parameter gradient, the loss, the logits, the
// batch-norm running statistics and an eval-mode forward are compared with the reference. The per-kernel suites check each kernel
// alone; this checks the compiler's wiring (tensor reuse, residual fork and join, the shared conv
// scratch, dx routing, the 'gpu' kernel set's BN+ReLU and add+ReLU fusions) on trees that use
// every node kind, with both kernel sets on every adapter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import type { AdapterClass, Gpu } from '../../src/gpu/gpu.ts';
import { Arena, createTensor, download, upload } from '../../src/gpu/tensor.ts';
import { Program } from '../../src/gpu/program.ts';
import { runDispatches } from '../../src/gpu/dispatch.ts';
import { compileModel } from '../../src/nn/compile.ts';
import { createModelState } from '../../src/nn/model-state.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { buffers, parameters, type ModelSpec } from '../../src/nn/graph.ts';
import { softmaxCrossEntropy } from '../../src/kernels/loss.ts';
import * as refModel from '../../src/ref/model.ts';
import * as refLoss from '../../src/ref/loss.ts';
import { compare, describe as describeCmp, EXACT, reductionTolerance, type Comparison, type Tolerance } from '../../src/check/compare.ts';
import { describeGradCheck, gradCheck } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';
import { testAdapters } from '../adapters.ts';

/** A VGG-like tree: conv with bias + BN, max-pool, avg-pool that drops an odd row/column, flatten, linear. */
const VGG_LIKE: ModelSpec = {
  name: 'vgg_like', input: [3, 10, 10], classes: 10, defaultIgnored: [],
  layers: [
    { op: 'conv', name: 'layers.0.conv', cin: 3, cout: 5, k: 3, stride: 1, pad: 1, bias: true },
    { op: 'bn', name: 'layers.0.bn', c: 5 }, { op: 'relu' },
    { op: 'maxpool2' }, // 10×10 → 5×5
    { op: 'conv', name: 'layers.2.conv', cin: 5, cout: 6, k: 3, stride: 1, pad: 1, bias: true },
    { op: 'bn', name: 'layers.2.bn', c: 6 }, { op: 'relu' },
    { op: 'avgpool', k: 2 }, // 5×5 → 2×2 (floor mode)
    { op: 'flatten' },
    { op: 'linear', name: 'fc', in: 24, out: 10 },
  ],
};

interface ModelCase { label: string; spec: ModelSpec; batch: number }

const resnet8 = getModel('cifar_resnet_8_4');
const CASES: ModelCase[] = [
  // 6n+2 with n = 1 at width 4: stem, one block per segment, strided 1×1 conv+BN shortcuts in segments 2 and 3.
  { label: 'cifar_resnet_8_4 on 3×32×32, batch 2', spec: resnet8, batch: 2 },
  // The same tree on an odd input (9 → 5 → 3 under the stride-2 convs; the global pool makes any size valid).
  { label: 'cifar_resnet_8_4 on 3×9×9, batch 3', spec: { ...resnet8, input: [3, 9, 9] }, batch: 3 },
  { label: 'VGG-like on 3×10×10, batch 3', spec: VGG_LIKE, batch: 3 },
  { label: 'mnist_lenet_30_20 on 1×28×28, batch 5', spec: getModel('mnist_lenet_30_20'), batch: 5 },
];

/** Deterministic host inputs: seeded parameters (OpenLTH init, γ ~ U(0, 1)), N(0, 1) images, labels. */
function hostInputs(c: ModelCase, st: { params: Arena; stats: Arena }) {
  const rng = new Rng(c.batch * 1000 + c.spec.input[1]);
  const params = initParameters(c.spec, st.params, 7, 'uniform');
  const stats = initRunningStats(st.stats);
  const per = c.spec.input.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: c.batch * per }, () => rng.normal());
  const labels = Uint32Array.from({ length: c.batch }, () => rng.int(c.spec.classes));
  return { params, stats, x, labels };
}

async function runCase(gpu: Gpu, c: ModelCase, variant: AdapterClass): Promise<Comparison[]> {
  const st = createModelState(gpu, c.spec);
  const m = compileModel(gpu, st, c.batch, { variant });
  const host = hostInputs(c, st);
  const labels = createTensor(gpu, 'labels', [c.batch], host.labels), lossStats = createTensor(gpu, 'loss_stats', [2]);
  const hasStats = st.stats.names.length > 0;
  try {
    upload(gpu, st.params.all(), host.params);
    if (hasStats) upload(gpu, st.stats.all(), host.stats);
    upload(gpu, m.input, host.x);
    const loss = softmaxCrossEntropy(gpu, m.logits, labels, c.spec.classes, m.dlogits, { stats: lossStats, slot: 0 });
    const program = new Program(gpu, `${c.spec.name}-step`, [[...m.forwardTrain, loss, ...m.backward]]);
    // Two identical steps: gradients must be overwritten, not accumulated, and the running
    // statistics must be updated twice.
    await program.step();
    await program.step();
    await program.flush();
    program.destroy();
    const trainLogits = await download(gpu, m.logits);
    const [gpuLoss, gpuCorrect] = await download(gpu, lossStats);
    const gpuStats = hasStats ? await download(gpu, st.stats.all()) : new Float32Array(0);
    const grads = new Map<string, Float32Array>();
    for (const name of st.grads.names) grads.set(name, await download(gpu, st.grads.get(name)));
    // Eval mode after the step: uses the running statistics the training forward just updated.
    await runDispatches(gpu, m.forwardEval, 'forward-eval');
    const evalLogits = await download(gpu, m.logits);

    const params = refModel.unpack(st.params.layout(), host.params);
    const x = Float64Array.from(host.x);
    const first = refModel.trainStep(c.spec, params, refModel.unpack(st.stats.layout(), host.stats), x, host.labels);
    const ref = refModel.trainStep(c.spec, params, first.stats, x, host.labels);
    const refEval = refModel.forward(c.spec, params, ref.stats, x, c.batch, false);

    const out: Comparison[] = [];
    // Logits: every forward layer adds rounding relative to the activations' size; scale by the logits' own size.
    const logitTol = relativeTolerance(ref.logits, 1e-4);
    out.push(compare('train logits', trainLogits, ref.logits, logitTol));
    out.push(compare('loss', [gpuLoss!], [ref.loss], { atol: 1e-5, rtol: 1e-5 }));
    out.push(compare('correct', [gpuCorrect!], [ref.correct], EXACT));
    for (const { name, offset, shape } of st.stats.layout()) {
      const n = shape.reduce((a, b) => a * b, 1), r = ref.stats.get(name)!;
      out.push(compare(name, gpuStats.subarray(offset, offset + n), r, relativeTolerance(r, 1e-5)));
    }
    for (const name of st.grads.names) {
      const r = ref.grads.get(name), red = ref.reductions.get(name);
      if (!r || !red) { out.push(compare(`grad ${name} (missing in the reference)`, [0], [1], EXACT)); continue; }
      // Each gradient element sums red.k products of at most red.scale (max|upstream grad|·max|input|).
      out.push(compare(`grad ${name}`, grads.get(name)!, r, reductionTolerance(red.k, red.scale)));
    }
    out.push(compare('eval logits', evalLogits, refEval.logits, relativeTolerance(refEval.logits, 1e-4)));
    return out;
  } finally {
    m.destroy();
    for (const a of [st.params, st.grads, st.momenta, st.masks]) a.buffer.destroy();
    if (hasStats) st.stats.buffer.destroy();
    labels.buffer.destroy(); lossStats.buffer.destroy();
  }
}

/** |err| ≤ rel · max|ref| per element (+ the same relative bound on the element itself). */
function relativeTolerance(ref: Float64Array, rel: number): Tolerance {
  return { atol: rel * ref.reduce((a, v) => Math.max(a, Math.abs(v)), 0) + 1e-7, rtol: rel };
}

const ratio = (c: Comparison) => c.maxAbsErr / Math.max(c.tolerance.atol, 1e-30);

test('the reference model\'s gradients match finite differences of its own loss', () => {
  // Residual fork and join, strided 1×1 shortcut, global pool, max/avg pool, flatten, conv bias:
  // checks the glue in src/ref/model.ts, not only the kernel references it composes.
  for (const c of CASES.filter((k) => k.spec !== resnet8)) { // the 32×32 ResNet is only slower
    const arena = new Arena('params'), statsArena = new Arena('stats');
    for (const p of parameters(c.spec.layers)) arena.add(p.name, p.shape);
    for (const b of buffers(c.spec.layers)) statsArena.add(b.name, b.shape);
    const host = hostInputs(c, { params: arena, stats: statsArena });
    const params = refModel.unpack(arena.layout(), host.params), stats = refModel.unpack(statsArena.layout(), host.stats);
    const x = Float64Array.from(host.x);
    const step = refModel.trainStep(c.spec, params, stats, x, host.labels);
    const loss = () => refLoss.softmaxCrossEntropy(refModel.forward(c.spec, params, stats, x, c.batch, true).logits, host.labels, c.spec.classes).meanLoss;
    const results = [...params].map(([name, p]) => gradCheck(`${c.spec.name} ${name}`, loss, p, step.grads.get(name)!, { maxProbes: 6 }));
    assert.ok(results.every((r) => r.ok), results.filter((r) => !r.ok).map(describeGradCheck).join('\n'));
  }
});

for (const name of await testAdapters()) {
  test(`[${name}] compiled models: training-step gradients, loss, logits, BN running stats and eval logits equal the float64 reference model`, async (t) => {
    const gpu = await openGpu(name);
    try {
      for (const c of CASES) for (const variant of ['cpu', 'gpu'] as const) {
        await t.test(`${c.label}, ${variant} kernel set`, async () => {
          const t0 = Date.now();
          const results = await runCase(gpu, c, variant);
          const worst = results.reduce((w, r) => (ratio(r) > ratio(w) ? r : w));
          console.log(`# [${name}] ${c.label}, ${variant} kernel set: ${results.length} comparisons in ${Date.now() - t0} ms, ` +
            `worst err/atol ${ratio(worst).toFixed(3)} (${worst.name})`);
          const bad = results.filter((r) => !r.ok);
          assert.equal(bad.length, 0, bad.map(describeCmp).join('\n'));
        });
      }
    } finally {
      gpu.destroy();
    }
  });
}
