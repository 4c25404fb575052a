// The TF.js peers of `bench --suite training` must be the same networks as ours: same parameter
// counts (LeNet-300-100: 266,610; ResNet-20: 272,474, as `earlyphase models` prints), and a
// training-step row must print latency, throughput (ms/step) and images/s. Runs on tfjs's CPU
// backend: no GPU needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { countParameters } from '../../src/nn/graph.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { disposeModel, parameterCount, registerTfjsGradients, tfModel, tfTrainStep } from '../../runner/tools/bench/tfjs-models.ts';
import { formatBenchTable } from '../../runner/tools/bench/index.ts';

test('TF.js LeNet-300-100 and ResNet-20 have our parameter counts', async () => {
  await tf.setBackend('cpu');
  for (const [name, count] of [['mnist_lenet_300_100', 266_610], ['cifar_resnet_20', 272_474]] as const) {
    const m = tfModel(tf, name);
    assert.equal(parameterCount(m), count, name);
    assert.equal(countParameters(getModel(name)).total, count, `${name} (ours)`);
    disposeModel(tf, m);
  }
});

test('a TF.js LeNet step lowers the loss on a fixed batch and keeps pruned weights at 0', async () => {
  await tf.setBackend('cpu');
  await registerTfjsGradients(tf);
  const m = tfModel(tf, 'mnist_lenet_300_100');
  const x = tf.randomNormal([16, 28, 28, 1], 0, 1, 'float32', 3);
  const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 10), 'int32'), 10), 'float32') as tf.Tensor2D;
  const loss = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(y, m.forward(x)).dataSync()[0]!);
  const step = tfTrainStep(tf, m, x, y, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4, density: 0.2 }, 5);
  const before = loss();
  for (let i = 0; i < 5; i++) step.run();
  assert.ok(loss() < before, `loss ${loss()} not below ${before}`);
  const w = m.prunable[0]!.dataSync();
  const zeros = Array.from(w).filter((v) => v === 0).length / w.length;
  assert.ok(zeros > 0.75 && zeros < 0.85, `fraction of zero weights ${zeros}`);
  step.dispose(); tf.dispose([x, y]); disposeModel(tf, m);
});

test('formatBenchTable prints training rows as latency, ms/step and images/s (a row without throughput uses its medians)', () => {
  const lines = formatBenchTable([{
    suite: 'training', case: 'mnist_lenet_300_100 b128 dense', flops: 0,
    ours: { minMs: 30, medianMs: 32, reps: 5 }, peer: { minMs: 90, medianMs: 128, reps: 5 }, peerName: 'tfjs-webgpu 4.22.0', ratio: 4,
    training: { batch: 128, dispatchesPerStep: 18, submitsPerStep: 1, asyncReadbacksPerStep: 1, blockingReadbacksPerStep: 0, gpuBytes: 2 ** 21, gpuBytesByKind: {} },
  }]).split('\n');
  assert.match(lines[0]!, /ours latency ms\s+ours ms\/step\s+ours img\/s\s+peer latency ms\s+peer ms\/step\s+peer img\/s/);
  assert.match(lines[2]!, /32\.0 \(best 30\.0\)\s+32\.0\s+4000\s+128\.0 \(best 90\.0\)\s+128\.0\s+1000\s+tfjs-webgpu 4\.22\.0\s+4\.00x\s+18\/1\/1 async, 0 blocking\s+2\.0$/);
});
