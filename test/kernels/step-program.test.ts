// The scheduler on a real (small) training step: a 2-layer MLP built from the kernels, one
// command buffer and one submit per step, metrics through the staging ring, gradients equal to
// the composed float64 references, and bitwise-identical weights from two identical runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { Arena, createTensor, download, upload } from '../../src/gpu/tensor.ts';
import { Program } from '../../src/gpu/program.ts';
import * as linear from '../../src/kernels/linear.ts';
import { reluBackward, reluForward } from '../../src/kernels/elementwise.ts';
import { softmaxCrossEntropy } from '../../src/kernels/loss.ts';
import { sgdMasked } from '../../src/kernels/sgd.ts';
import * as refLinear from '../../src/ref/linear.ts';
import * as refEw from '../../src/ref/elementwise.ts';
import * as refLoss from '../../src/ref/loss.ts';
import { compare, describe as describeCmp, reductionTolerance } from '../../src/check/compare.ts';
import { Rng } from '../../src/rng.ts';
import { testAdapters } from '../adapters.ts';

const B = 32, I = 24, H = 17, C = 5;
const PARAMS: [string, number[]][] = [['fc1.weight', [H, I]], ['fc1.bias', [H]], ['fc2.weight', [C, H]], ['fc2.bias', [C]]];

function arena(label: string): Arena {
  const a = new Arena(label);
  for (const [n, s] of PARAMS) a.add(n, s);
  return a;
}

/** Host-side initial state: weights, a mask with zeros in fc1.weight, a fixed batch. */
function initialState(layout: Arena) {
  const rng = new Rng(42);
  const w = new Float32Array(layout.elements), mask = new Float32Array(layout.elements);
  for (const { name, offset, shape } of layout.layout()) {
    const n = shape.reduce((a, b) => a * b, 1), fanIn = shape[1] ?? 1;
    for (let i = 0; i < n; i++) {
      w[offset + i] = name.endsWith('bias') ? 0 : rng.normal() * Math.sqrt(2 / fanIn);
      mask[offset + i] = name === 'fc1.weight' && i % 3 === 0 ? 0 : 1;
      if (mask[offset + i] === 0) w[offset + i] = 0;
    }
  }
  const x = Float32Array.from({ length: B * I }, () => rng.uniform() * 2 - 1);
  const labels = Uint32Array.from({ length: B }, () => rng.int(C));
  return { w, mask, x, labels };
}

function buildStep(gpu: Gpu) {
  const params = arena('params'), grads = arena('grads'), momenta = arena('momenta'), masks = arena('masks');
  for (const a of [params, grads, momenta, masks]) a.build(gpu);
  const s = initialState(params);
  upload(gpu, params.all(), s.w);
  upload(gpu, masks.all(), s.mask);
  const t = (name: string, shape: number[], data?: Float32Array | Uint32Array) => createTensor(gpu, name, shape, data);
  const x = t('x', [B, I], s.x), labels = t('labels', [B], s.labels);
  const h = t('h', [B, H]), a = t('a', [B, H]), logits = t('logits', [B, C]);
  const dlogits = t('dlogits', [B, C]), da = t('da', [B, H]), dh = t('dh', [B, H]);
  const stats = t('stats', [2]);
  const d1 = { batch: B, in: I, out: H }, d2 = { batch: B, in: H, out: C };
  const sgd = sgdMasked(gpu, { weights: params.all(), grads: grads.all(), momenta: momenta.all(), mask: masks.all() },
    { lr: 0.1, momentum: 0.9, weightDecay: 1e-4, nesterov: false });
  const dispatches = [
    linear.linearForward(gpu, x, params.get('fc1.weight'), params.get('fc1.bias'), h, d1),
    reluForward(gpu, h, a),
    linear.linearForward(gpu, a, params.get('fc2.weight'), params.get('fc2.bias'), logits, d2),
    softmaxCrossEntropy(gpu, logits, labels, C, dlogits, { stats, slot: 0 }),
    linear.linearBackwardWeight(gpu, dlogits, a, grads.get('fc2.weight'), d2),
    linear.linearBackwardBias(gpu, dlogits, grads.get('fc2.bias'), d2),
    linear.linearBackwardInput(gpu, dlogits, params.get('fc2.weight'), da, d2),
    reluBackward(gpu, h, da, dh),
    linear.linearBackwardWeight(gpu, dh, x, grads.get('fc1.weight'), d1),
    linear.linearBackwardBias(gpu, dh, grads.get('fc1.bias'), d1),
    sgd.dispatch,
  ];
  return { params, grads, masks, stats, dispatches, state: s };
}

async function train(gpu: Gpu, steps: number) {
  const st = buildStep(gpu);
  const losses: number[] = [];
  const program = new Program(gpu, 'mlp', [st.dispatches], { tensor: st.stats, onSnapshot: (step, v) => { losses[step] = v[0]!; } });
  for (let i = 0; i < steps; i++) await program.step(true);
  await program.flush();
  const weights = await download(gpu, st.params.all());
  const mask = await download(gpu, st.masks.all());
  program.destroy();
  return { losses, weights, mask, counters: { ...program.counters }, perStep: program.dispatchesPerStep };
}

for (const name of await testAdapters()) {
  test(`[${name}] MLP step: one submit and one async metrics readback per step, loss falls, pruned weights stay 0`, async () => {
    const gpu = await openGpu(name);
    try {
      const r = await train(gpu, 40);
      assert.equal(r.counters.submits, 40);
      assert.equal(r.counters.dispatches, 40 * r.perStep);
      assert.equal(r.perStep, 11);
      assert.equal(r.counters.snapshots, 40, 'every step snapshot arrives');
      console.log(`# [${name}] per step: ${r.perStep} dispatches, 1 submit, 1 async readback, ${r.counters.ringWaits}/40 ring waits (back-pressure), ` +
        `loss ${r.losses[0]!.toFixed(4)} → ${r.losses[39]!.toFixed(4)}`);
      assert.ok(r.losses[39]! < 0.5 * r.losses[0]!, `loss did not fall: ${r.losses[0]} → ${r.losses[39]}`);
      for (let i = 0; i < r.mask.length; i++) if (r.mask[i] === 0) assert.equal(r.weights[i], 0, `pruned weight ${i} moved`);
    } finally {
      gpu.destroy();
    }
  });

  test(`[${name}] same seed, same adapter ⇒ bitwise-identical weights after 25 steps`, async () => {
    const gpu = await openGpu(name);
    try {
      const a = await train(gpu, 25), b = await train(gpu, 25);
      assert.deepEqual(new Uint32Array(a.weights.buffer), new Uint32Array(b.weights.buffer));
      assert.deepEqual(a.losses, b.losses);
    } finally {
      gpu.destroy();
    }
  });

  test(`[${name}] MLP gradients equal the composed float64 references`, async () => {
    const gpu = await openGpu(name);
    try {
      const st = buildStep(gpu);
      const program = new Program(gpu, 'mlp-grad', [st.dispatches.slice(0, -1)]); // without the SGD update
      await program.step();
      await program.flush();
      const w = Float64Array.from(st.state.w), x = Float64Array.from(st.state.x);
      const get = (n: string) => { const e = st.params.layout().find((l) => l.name === n)!; return w.subarray(e.offset, e.offset + e.shape.reduce((p, q) => p * q, 1)); };
      const d1 = { batch: B, in: I, out: H }, d2 = { batch: B, in: H, out: C };
      const h = refLinear.linearForward(x, get('fc1.weight'), get('fc1.bias'), d1);
      const a = refEw.reluForward(h);
      const ce = refLoss.softmaxCrossEntropy(refLinear.linearForward(a, get('fc2.weight'), get('fc2.bias'), d2), st.state.labels, C);
      const dh = refEw.reluBackward(h, refLinear.linearBackwardInput(ce.dlogits, get('fc2.weight'), d2));
      const expected: Record<string, Float64Array> = {
        'fc2.weight': refLinear.linearBackwardWeight(ce.dlogits, a, d2), 'fc2.bias': refLinear.linearBackwardBias(ce.dlogits, d2),
        'fc1.weight': refLinear.linearBackwardWeight(dh, x, d1), 'fc1.bias': refLinear.linearBackwardBias(dh, d1),
      };
      for (const [n, ref] of Object.entries(expected)) {
        const got = await download(gpu, st.grads.get(n));
        const c = compare(`grad ${n}`, got, ref, reductionTolerance(B * H, 0.1));
        assert.ok(c.ok, describeCmp(c));
      }
      const loss = (await download(gpu, st.stats))[0]!;
      assert.ok(Math.abs(loss - ce.meanLoss) < 1e-5, `loss ${loss} vs ${ce.meanLoss}`);
      program.destroy();
    } finally {
      gpu.destroy();
    }
  });
}
