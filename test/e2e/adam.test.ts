// Training with --optimizer-name adam through the shared driver, in Node on lavapipe (a 5% / 1%
// Fashion-MNIST subsample of LeNet-300-100): the loss falls, the same job gives bitwise-identical
// weights, a run stopped at a checkpoint resumes (moments and step count restored) to the same
// weights, and a lottery level starts a fresh Adam — zero moments and t = 1 at the rewind point,
// as OpenLTH builds a new optimiser per level.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import { loadDataset } from '../../runner/data/datasets.ts';
import { parseHparamArgv } from '../../src/train/hparams.ts';
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { levelDir, planLottery, runLottery } from '../../src/lottery/lottery.ts';
import { train } from '../../src/train/trainer.ts';
import type { TrainJob } from '../../src/train/train-job.ts';
import { weightsFileName } from '../../src/train/run-files.ts';
import { parseMetrics } from '../../src/train/metrics.ts';
import { RunControl, RunStoppedError } from '../../src/train/control.ts';
import type { TrainEvent } from '../../src/train/events.ts';
import { decodeSafetensors } from '../../src/io/safetensors.ts';
import { floatTensors } from '../float-tensors.ts';
import { MemoryStorage } from '../../viewer/memory-storage.ts';

const ADAM = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--optimizer-name', 'adam', '--lr', '1.2e-3', '--momentum', '0'];
const LR = 1.2e-3;

const data = await loadDataset('fashion_mnist');
const gpu = await openGpu('llvmpipe');
console.log(`# adapter: ${gpu.adapter.description} (${gpu.adapter.shortName})`);
process.on('exit', () => gpu.destroy());

async function file(storage: MemoryStorage, path: string) {
  const b = await storage.read(path);
  assert.ok(b, `missing ${path}`);
  const f = decodeSafetensors(b, path);
  return { ...f, tensors: floatTensors(f.tensors, path) };
}

// 3,000 examples / 128 → 24 iterations per epoch, 72 in all.
const { hparams } = parseHparamArgv([...ADAM, '--subsample-fraction', '0.05', '--training-steps', '3ep']);
const job = (control?: RunControl): TrainJob => ({ run: 'adam', dir: 'adam', hparams, replicate: 1, data, control });

test('Adam: the loss falls, the same job is bitwise-identical, the checkpoint holds both moments and t', { timeout: 300_000 }, async () => {
  const storage = new MemoryStorage();
  const a = await train(gpu, storage, () => {}, job());
  const b = await train(gpu, new MemoryStorage(), () => {}, job());
  console.log(`# Adam 72 iterations: test accuracy ${a.testAccuracy}, weights ${a.weightsHash}`);
  assert.equal(b.weightsHash, a.weightsHash);
  const rows = parseMetrics(new TextDecoder().decode((await storage.read('adam/metrics.csv'))!), 'metrics.csv');
  const epochLoss = rows.filter((r) => r.name === 'train_epoch_loss').map((r) => r.value);
  assert.equal(epochLoss.length, 3);
  assert.ok(epochLoss[2]! < epochLoss[0]! && epochLoss[0]! < Math.log(10), `epoch losses ${epochLoss.join(', ')}`);
  assert.ok(a.testAccuracy! > 0.7, `test accuracy ${a.testAccuracy}`);
  const ck = await file(storage, 'adam/checkpoint.safetensors');
  assert.equal(ck.metadata?.optimizer_steps, '72');
  assert.ok(ck.tensors.has('exp_avg/fc_layers.0.weight') && ck.tensors.has('exp_avg_sq/fc_layers.0.weight'));
  assert.equal(ck.tensors.has('momentum/fc_layers.0.weight'), false);
  assert.ok(ck.tensors.get('exp_avg_sq/fc_layers.0.weight')!.data.some((v) => v > 0), 'the second moment was never written');
});

test('Adam: a run stopped at its first checkpoint resumes to the same weights', { timeout: 300_000 }, async () => {
  const reference = await train(gpu, new MemoryStorage(), () => {}, job());
  const storage = new MemoryStorage();
  const stop = new RunControl();
  await assert.rejects(train(gpu, storage, (e) => { if (e.type === 'checkpoint') stop.stop(); }, job(stop)), RunStoppedError);
  assert.equal((await file(storage, 'adam/checkpoint.safetensors')).metadata?.optimizer_steps, '24');
  const events: TrainEvent[] = [];
  const resumed = await train(gpu, storage, (e) => events.push(e), job());
  const start = events.find((e) => e.type === 'start');
  assert.deepEqual(start?.type === 'start' && [start.resumed, start.startIteration], [true, 24]);
  assert.equal(resumed.weightsHash, reference.weightsHash);
});

test('Adam: a lottery level starts with zero moments and t = 1 at the rewind point', { timeout: 300_000 }, async () => {
  // 600 examples / 128 → 5 iterations; level 1 rewinds to k = 4 and trains exactly one step.
  const { hparams: h, lottery } = parseLotteryArgv([...ADAM, '--subsample-fraction', '0.01', '--training-steps', '1ep', '--rewinding-steps', '4it']);
  const lotteryJob = { hparams: h, lottery, replicate: 1, maxLevel: 1, evaluateOnlyAtEnd: true };
  const storage = new MemoryStorage();
  await runLottery({ gpu, storage, data, sink: () => {} }, lotteryJob);
  const plan = planLottery(lotteryJob, data);
  const [dir0, dir1] = [levelDir(plan, 0), levelDir(plan, 1)];
  assert.equal((await file(storage, `${dir0}/checkpoint.safetensors`)).metadata?.optimizer_steps, '5');
  const ck = await file(storage, `${dir1}/checkpoint.safetensors`);
  assert.equal(ck.metadata?.optimizer_steps, '1');
  // From zero moments, step 1 moves every weight by lr·|g|/(|g| + ε): lr unless its gradient is
  // (nearly) 0. Level 0's moments, or t counted from iteration 0 (t = 5: 0.55·lr), would not.
  const before = (await file(storage, `${dir1}/${weightsFileName(4, 5)}`)).tensors;
  const after = (await file(storage, `${dir1}/${weightsFileName(5, 5)}`)).tensors;
  const mask = (await file(storage, `${dir1}/mask.safetensors`)).tensors;
  let atLr = 0, smaller = 0, pruned = 0;
  for (const [name, t] of after) {
    const w0 = before.get(name)!.data, m = mask.get(name)?.data;
    t.data.forEach((w, i) => {
      if (m && m[i] === 0) {
        assert.ok(w === 0 && ck.tensors.get(`exp_avg/${name}`)!.data[i] === 0 && ck.tensors.get(`exp_avg_sq/${name}`)!.data[i] === 0, `${name}[${i}] pruned but moved`);
        pruned++;
        return;
      }
      const d = Math.abs(w - w0[i]!);
      assert.ok(d <= LR * 1.001, `${name}[${i}] moved ${d} > lr ${LR}`);
      if (Math.abs(d - LR) < LR * 1e-3) atLr++; else smaller++;
    });
  }
  console.log(`# level 1's first step: ${atLr} weights moved by lr, ${smaller} by less (gradient ≈ 0), ${pruned} pruned`);
  assert.ok(pruned > 0, 'level 1 pruned nothing');
  assert.ok(atLr > 0.9 * (atLr + smaller), `only ${atLr} of ${atLr + smaller} unpruned weights moved by lr`);
});
