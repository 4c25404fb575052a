// Mixed precision (--apex-fp16) in the trainer's step (TrainPack), every adapter:
//  - bitwise reproducible: the same run twice gives the same weights, statistics, optimiser and
//    scaler state, and each member of a pack of 2 trains exactly as it does alone (each op one
//    member-fused dispatch, the loss scaler's passes included), SGD and Adam, across the epoch's
//    short last batch;
//  - a forced overflow in a real step (a loss scale so large that the scaled gradient overflows
//    f16) skips the step: weights, momenta and Adam's t untouched, the scale halved, the step
//    reported as skipped; the next step trains at the halved scale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { download, upload } from '../../src/gpu/tensor.ts';
import { syntheticSplits, SYNTHETIC_DEFAULTS } from '../../src/data/synthetic.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import { presetHparams, type Hparams } from '../../src/train/hparams.ts';
import { freshOptimizerState, optimizerLayout } from '../../src/train/optimizer.ts';
import { TrainPack } from '../../src/train/train-pack.ts';
import { stateLayout } from '../../src/nn/model-state.ts';
import { defaultMask } from '../../src/train/run-files.ts';
import type { CheckpointState } from '../../src/train/checkpoint.ts';
import type { AmpStepStats } from '../../src/train/amp.ts';
import { scalerState, SCALER } from '../../src/kernels/amp.ts';
import { testAdapters } from '../adapters.ts';

/** 40 images at batch 16: 3 iterations per epoch, the last of 8 examples; iterations 1..4 cross it. */
const FROM = 1, TO = 5;
const RGB = syntheticSplits({ ...SYNTHETIC_DEFAULTS, trainCount: 40, testCount: 8, height: 8, width: 8 });
const GRAY = syntheticSplits({ ...SYNTHETIC_DEFAULTS, trainCount: 40, testCount: 8, channels: 1, height: 28, width: 28 });
const MODELS = [{ model: 'cifar_resnet_8_4', data: RGB }, { model: 'mnist_lenet_300_100', data: GRAY }] as const;

function hparams(model: string, optimizer: 'sgd' | 'adam', i: number): Hparams {
  const h = presetHparams(model);
  return {
    ...h, dataset: { ...h.dataset, dataset_name: 'synthetic', batch_size: 16, do_not_augment: false },
    training: { ...h.training, optimizer_name: optimizer, lr: (optimizer === 'adam' ? 1e-3 : 0.05) * (1 + i), momentum: 0.9, weight_decay: 1e-4,
      warmup_steps: undefined, milestone_steps: [], apex_fp16: true },
  };
}

interface Outcome { losses: number[]; amp: AmpStepStats[]; state: CheckpointState; scaler: Float32Array; unfused: string[] }

async function train(gpu: Gpu, c: (typeof MODELS)[number], optimizer: 'sgd' | 'adam', ids: number[],
  o: { scale?: number; from?: number; to?: number } = {}): Promise<Outcome[]> {
  const hs = ids.map((i) => hparams(c.model, optimizer, i));
  const out = ids.map(() => ({ losses: [] as number[], amp: [] as AmpStepStats[] }));
  const pack = new TrainPack(gpu, {
    data: c.data,
    members: ids.map((i, k) => ({ hparams: hs[k]!, replicate: i + 1, onMetrics: (it: number, l: number, _n: number, a?: AmpStepStats) => { out[k]!.losses[it] = l; out[k]!.amp[it] = a!; } })),
  });
  try {
    pack.members.forEach((m, k) => {
      const { params, stats } = stateLayout(pack.spec);
      const mask = defaultMask(params);
      if (ids[k]! > 0) for (let j = ids[k]!; j < mask.length; j += ids[k]! + 2) mask[j] = 0;
      m.load({ params: initParameters(pack.spec, params, ids[k]! + 1, 'uniform'), stats: initRunningStats(stats),
        optimizer: freshOptimizerState(optimizerLayout(optimizer), params.elements) }, mask);
      if (o.scale) upload(gpu, m.scaler!.state, scalerState({ scale: o.scale, tracker: 0, applied: 0, beta1: 0.9, beta2: 0.999 }));
    });
    for (let it = o.from ?? FROM; it < (o.to ?? TO); it++) await pack.step(it);
    await pack.flush();
    const res: Outcome[] = [];
    for (const [k, m] of pack.members.entries()) {
      res.push({ ...out[k]!, state: await m.save(), scaler: await download(gpu, m.scaler!.state), unfused: [...pack.fusion.unfused, ...pack.shortFusion?.unfused ?? []].map((u) => u.label) });
    }
    return res;
  } finally {
    pack.destroy();
  }
}

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a as ArrayLike<number>).buffer));

function assertSame(got: Outcome, want: Outcome, what: string): void {
  assert.deepEqual(bits(got.losses.slice(FROM)), bits(want.losses.slice(FROM)), `${what}: losses`);
  assert.deepEqual(bits(got.state.params), bits(want.state.params), `${what}: weights`);
  assert.deepEqual(bits(got.state.stats), bits(want.state.stats), `${what}: batch-norm statistics`);
  for (const [n, b] of Object.entries(want.state.optimizer.buffers)) assert.deepEqual(bits(got.state.optimizer.buffers[n]!), bits(b), `${what}: optimiser ${n}`);
  assert.deepEqual(bits(got.scaler), bits(want.scaler), `${what}: loss scaler`);
}

for (const name of await testAdapters()) {
  test(`[${name}] mixed precision: bitwise reproducible, and each pack member trains exactly as alone (ResNet-8 SGD and Adam, LeNet SGD)`, async () => {
    const gpu = await openGpu(name);
    try {
      for (const [c, optimizer] of [[MODELS[0], 'sgd'], [MODELS[0], 'adam'], [MODELS[1], 'sgd']] as const) {
        const a = [(await train(gpu, c, optimizer, [0]))[0]!, (await train(gpu, c, optimizer, [1]))[0]!];
        if (optimizer === 'sgd') assertSame((await train(gpu, c, optimizer, [1]))[0]!, a[1]!, `${c.model} ${optimizer}: the same run twice`);
        assert.notDeepEqual(bits(a[0]!.state.params), bits(a[1]!.state.params));
        assert.ok(a.every((o) => o.losses.slice(FROM).every(Number.isFinite) && o.amp.slice(FROM).every((s) => !s.skipped && s.scale === 65536)));
        assert.equal(a[0]!.state.optimizer.steps, TO - FROM);
        const got = await train(gpu, c, optimizer, [1, 0]);
        [1, 0].forEach((i, k) => assertSame(got[k]!, a[i]!, `${c.model} ${optimizer} K=2 member ${i}`));
        assert.deepEqual(got[0]!.unfused, [], `${c.model} ${optimizer}: ops left unfused`);
      }
    } finally {
      gpu.destroy();
    }
  });

  test(`[${name}] mixed precision: a forced overflow skips the step (nothing updated, Adam's t kept), halves the scale, and training goes on`, async () => {
    const gpu = await openGpu(name);
    try {
      const c = MODELS[0];
      for (const optimizer of ['sgd', 'adam'] as const) {
        // 2^40 · dL/dlogits overflows f16 at once: step 1 is skipped, its scale halved; step 2 too, ...
        const one = (await train(gpu, c, optimizer, [0], { scale: 2 ** 40, to: 2 }))[0]!;
        const none = (await train(gpu, c, optimizer, [0], { scale: 2 ** 40, to: 1 }))[0]!;
        assert.deepEqual(one.amp[1], { skipped: true, scale: 2 ** 40 });
        assert.deepEqual(bits(one.state.params), bits(none.state.params), `${optimizer}: a skipped step leaves the weights bitwise untouched`);
        for (const [n, b] of Object.entries(none.state.optimizer.buffers)) assert.deepEqual(bits(one.state.optimizer.buffers[n]!), bits(b), `${optimizer}: ${n} untouched`);
        assert.equal(one.state.optimizer.steps, 0, 'no step applied');
        assert.equal(one.scaler[SCALER.scale], 2 ** 39);
        // Halving from 2^40 reaches a scale whose gradients fit in f16 after a few skipped steps; then it trains.
        const many = (await train(gpu, c, optimizer, [0], { scale: 2 ** 40, to: 40 }))[0]!;
        const flags = many.amp.slice(FROM).map((s) => s.skipped), skipped = flags.filter(Boolean).length;
        assert.ok(flags.slice(0, 10).every(Boolean) && !flags.slice(-10).some(Boolean), `${optimizer}: skipped steps ${flags.map(Number).join('')}`);
        assert.deepEqual(many.amp.slice(FROM).map((s) => s.scale), flags.map((_, i) => 2 ** (40 - flags.slice(0, i).filter(Boolean).length)), 'each skip halves the next step\'s scale');
        assert.equal(many.state.optimizer.steps, 39 - skipped);
        assert.equal(many.scaler[SCALER.scale], 2 ** (40 - skipped));
        assert.notDeepEqual(bits(many.state.params), bits(none.state.params));
        assert.ok(many.losses.slice(FROM).every(Number.isFinite));
      }
    } finally {
      gpu.destroy();
    }
  });
}
