// The run page's live figures (viewer/live-figures.ts) as specs, without a browser: their x axis
// spans the run (0…T iterations) instead of uPlot's padded range around the points drawn so far.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveFigures } from '../../viewer/live-figures.ts';
import { MemoryStorage } from '../../viewer/memory-storage.ts';

test('live loss and accuracy figures span iterations 0…T of the longest run', () => {
  const root = 'lottery_x/replicate_1';
  const f = new LiveFigures(new MemoryStorage(), root, 'lottery_x');
  const run = `${root}/level_0`;
  f.onEvent({ type: 'start', run, model: 'mnist_lenet_300_100', dataset: 'fashion_mnist', adapter: 'test', totalIterations: 24, startIteration: 0, resumed: false });
  f.onEvent({ type: 'eval', run, iteration: 0, testLoss: 2.3, testAccuracy: 0.1, seconds: 0, elapsedSeconds: 0 });
  f.onEvent({ type: 'step', run, iteration: 1, totalIterations: 24, loss: 2.3, accuracy: 0.1, lr: 0.1, imagesPerSecond: 0 });
  const byId = new Map(f.figures().map((s) => [s.id, s]));
  assert.deepEqual(byId.get('live_accuracy')?.x.span, [0, 24]);
  assert.deepEqual(byId.get('live_loss')?.x.span, [0, 24]);
  // One accuracy point so far (uPlot alone would pad its axis around it): the span is the run's.
  assert.deepEqual(byId.get('live_accuracy')?.series[0]?.x, [0]);
});
