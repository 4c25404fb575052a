// TrainPack (src/train/train-pack.ts), the one object that is a training step (a run alone is a
// pack of one): it frees every buffer it made (kernel uniforms included) and what it adopted; a
// step saved and loaded into a fresh pack continues bitwise-identically to one that never stopped
// (Adam's step count, BN statistics, momentum, the epoch order and augmentation draws all carried
// over); a construction that fails leaks no buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { collectBuffers } from '../../src/gpu/ownership.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import { syntheticSplits, SYNTHETIC_DEFAULTS } from '../../src/data/synthetic.ts';
import { presetHparams, type Hparams } from '../../src/train/hparams.ts';
import { freshOptimizerState, optimizerLayout } from '../../src/train/optimizer.ts';
import { Evaluator, WeightsEvaluator } from '../../src/train/evaluator.ts';
import { TrainPack } from '../../src/train/train-pack.ts';
import { defaultMask } from '../../src/train/run-files.ts';
import { testAdapters } from '../adapters.ts';

/** ResNet-8 (width 4) on 40 CIFAR-shaped synthetic images, batch 16: 3 iterations per epoch, the last one of 8 examples. */
const DATA = syntheticSplits({ ...SYNTHETIC_DEFAULTS, trainCount: 40, testCount: 24 });

function hparams(optimizer: 'sgd' | 'adam'): Hparams {
  const h = presetHparams('cifar_resnet_8_4');
  return {
    ...h, dataset: { ...h.dataset, dataset_name: 'synthetic', batch_size: 16 },
    training: optimizer === 'adam'
      ? { ...h.training, optimizer_name: 'adam', lr: 1e-3, warmup_steps: '2it', milestone_steps: ['4it'], gamma: 0.5 }
      : { ...h.training, warmup_steps: '2it', milestone_steps: ['4it'], gamma: 0.5 },
  };
}

function build(gpu: Gpu, h: Hparams, losses: number[] = []) {
  return new TrainPack(gpu, { data: DATA, members: [{ hparams: h, replicate: 1, onMetrics: (it, l) => { losses[it] = l; } }] });
}

function initialState(step: TrainPack, h: Hparams) {
  const { state } = step.members[0]!;
  const mask = defaultMask(state.params);
  for (let i = 0; i < mask.length; i += 5) mask[i] = 0; // some pruned weights
  return {
    mask,
    state: {
      params: initParameters(step.spec, state.params, 1, 'uniform'), stats: initRunningStats(state.stats),
      optimizer: freshOptimizerState(optimizerLayout(h.training.optimizer_name), state.params.elements),
    },
  };
}

async function run(step: TrainPack, from: number, to: number) {
  for (let it = from; it < to; it++) await step.step(it);
  await step.flush();
}

/** Records every buffer `device` creates from now on and whether it was destroyed; restore() stops it. */
function trackBuffers(device: GPUDevice) {
  const original = device.createBuffer;
  const made: { label: string; uniform: boolean; destroyed: boolean }[] = [];
  device.createBuffer = function (desc: GPUBufferDescriptor) {
    const b = original.call(device, desc), rec = { label: desc.label ?? '', uniform: (desc.usage & 0x40) !== 0, destroyed: false };
    made.push(rec);
    const destroy = b.destroy.bind(b);
    b.destroy = () => { rec.destroyed = true; destroy(); };
    return b;
  };
  return { made, restore: () => { device.createBuffer = original; } };
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

for (const name of await testAdapters()) {
  test(`[${name}] TrainPack.destroy frees every buffer it made or adopted, uniforms included`, async () => {
    const gpu = await openGpu(name);
    const { made, restore } = trackBuffers(gpu.device);
    try {
      const h = hparams('adam'), step = build(gpu, h), member = step.members[0]!;
      const { state, mask } = initialState(step, h);
      member.load(state, mask);
      const evaluator = step.own(() => new Evaluator(gpu, member.state, member.data, 16));
      step.addChannel(member.state.params.get(member.state.params.names[0]!), () => {}); // a ring made after construction
      await run(step, 0, 4);
      await member.save();
      await evaluator.run();
      step.destroy();
      const live = made.filter((b) => !b.destroyed);
      assert.deepEqual(live.map((b) => b.label), [], 'buffers left alive');
      const uniforms = made.filter((b) => b.uniform).length;
      assert.ok(uniforms > 20, `only ${uniforms} uniform buffers were seen`);
      console.log(`# [${name}] ${made.length} buffers created (${uniforms} uniforms), all destroyed`);
    } finally {
      restore();
      gpu.destroy();
    }
  });

  test(`[${name}] WeightsEvaluator (instability analysis) frees every buffer it made, uniforms included`, async () => {
    const gpu = await openGpu(name);
    try {
      const h = hparams('sgd'), step = build(gpu, h);
      const { state } = initialState(step, h);
      const spec = step.spec;
      step.destroy();
      const { made, restore } = trackBuffers(gpu.device);
      try {
        const ev = new WeightsEvaluator(gpu, spec, h, DATA, 1);
        const r = await ev.evaluate(state);
        assert.ok(Number.isFinite(r.loss) && r.accuracy >= 0 && r.accuracy <= 1, `evaluation gave ${JSON.stringify(r)}`);
        ev.destroy();
      } finally {
        restore();
      }
      assert.deepEqual(made.filter((b) => !b.destroyed).map((b) => b.label), [], 'buffers left alive');
      assert.ok(made.some((b) => b.uniform), 'no uniform buffer was seen');
    } finally {
      gpu.destroy();
    }
  });

  test(`[${name}] a TrainPack saved and loaded into a fresh one continues bitwise-identically (SGD and Adam)`, async () => {
    const gpu = await openGpu(name);
    try {
      for (const opt of ['sgd', 'adam'] as const) {
        const h = hparams(opt);
        // Uninterrupted: 8 iterations over 3 epochs (warm-up, a milestone, short last batches).
        const lossesA: number[] = [];
        const a = build(gpu, h, lossesA);
        const init = initialState(a, h);
        a.members[0]!.load({ ...init.state, params: init.state.params.slice() }, init.mask);
        await run(a, 0, 8);
        const endA = await a.members[0]!.save();
        a.destroy();
        // Stopped after 4 (mid-epoch), its state moved into a fresh step, continued to 8.
        const lossesB: number[] = [];
        const b1 = build(gpu, h, lossesB);
        b1.members[0]!.load({ ...init.state, params: init.state.params.slice() }, init.mask);
        await run(b1, 0, 4);
        const mid = await b1.members[0]!.save();
        b1.destroy();
        const b2 = build(gpu, h, lossesB);
        b2.members[0]!.load(mid, init.mask);
        await run(b2, 4, 8);
        const endB = await b2.members[0]!.save();
        b2.destroy();
        assert.equal(lossesA.length, 8);
        assert.deepEqual(lossesB, lossesA, `${opt}: losses`);
        assert.deepEqual(bits(endB.params), bits(endA.params), `${opt}: weights`);
        assert.deepEqual(bits(endB.stats), bits(endA.stats), `${opt}: BN statistics`);
        for (const k of Object.keys(endA.optimizer.buffers)) assert.deepEqual(bits(endB.optimizer.buffers[k]!), bits(endA.optimizer.buffers[k]!), `${opt}: ${k}`);
        assert.equal(endB.optimizer.steps, 8);
        for (let i = 0; i < init.mask.length; i++) if (init.mask[i] === 0) assert.equal(endA.params[i], 0, `${opt}: pruned weight ${i} moved`);
      }
    } finally {
      gpu.destroy();
    }
  });

  test(`[${name}] a failed construction leaks no buffer`, async () => {
    const gpu = await openGpu(name);
    try {
      let made: GPUBuffer[] = [];
      const destroyed = new Set<GPUBuffer>();
      assert.throws(() => collectBuffers(gpu.device, () => {
        made = [gpu.buffer('a', 16, 0x40 | 0x08), gpu.buffer('b', 16, 0x40 | 0x08)];
        for (const b of made) { const d = b.destroy.bind(b); b.destroy = () => { destroyed.add(b); d(); }; }
        throw new Error('boom');
      }), /boom/);
      assert.equal(destroyed.size, 2);
      assert.ok(!Object.hasOwn(gpu.device, 'createBuffer'), 'createBuffer is restored');
    } finally {
      gpu.destroy();
    }
  });
}
