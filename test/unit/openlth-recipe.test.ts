// OpenLTH's recipe details that change what trains: the warm-up (training/optimizers.py: a
// LambdaLR factor min(1, it/warmup), so iteration 0 trains at rate 0), and its dataset
// transformations (datasets/registry.py, base.py): random labels over the whole training set
// first, then the subsample, both counting ceil(n × fraction).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate } from '../../src/train/schedule.ts';
import { trainExamples, transformTrainSet } from '../../src/train/device-data.ts';
import { presetHparams, type Hparams } from '../../src/train/hparams.ts';
import type { Dataset } from '../../src/data/dataset.ts';

test('warm-up is OpenLTH\'s min(1, it/warmup): rate 0 at iteration 0, full at the warm-up\'s end; milestones multiply', () => {
  const s = { lr: 0.1, warmup: 4, milestones: [6], gamma: 0.1 };
  // OpenLTH, written out: lr · min(1, it/4) · 0.1^(it >= 6).
  const openlth = (it: number) => 0.1 * Math.min(1, it / 4) * (it >= 6 ? 0.1 : 1);
  for (let it = 0; it < 10; it++) assert.equal(learningRate(s, it), openlth(it), `iteration ${it}`);
  assert.equal(learningRate(s, 0), 0);
  assert.equal(learningRate({ lr: 0.1, warmup: 0, milestones: [], gamma: 1 }, 0), 0.1, 'no warm-up: the full rate from the start');
});

/** 101 examples whose first image byte is the example's index, labels all 0. */
function indexed(): Dataset {
  const count = 101;
  const images = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) images[i * 4] = i;
  return { name: 'indexed', images, labels: new Uint8Array(count), count, channels: 1, height: 2, width: 2, classes: 10 };
}

function hp(dataset: Partial<Hparams['dataset']>): Hparams {
  const h = presetHparams('mnist_lenet_300_100');
  return { ...h, dataset: { ...h.dataset, ...dataset } };
}

test('subsample keeps ceil(n × fraction) examples, as numpy\'s np.ceil', () => {
  assert.equal(trainExamples(hp({ subsample_fraction: 0.3 }), 101), 31, 'ceil(30.3), not round');
  assert.equal(trainExamples(hp({ subsample_fraction: 0.001 }), 101), 1);
  assert.equal(trainExamples(hp({ subsample_fraction: 0.015 }), 60_000), 900, 'float64 product as numpy computes it');
  assert.equal(transformTrainSet(indexed(), hp({ subsample_fraction: 0.5 }), 7).count, 51);
});

test('random labels are drawn over the whole training set, then the subsample keeps some of them', () => {
  const d = indexed();
  const labelsOnly = transformTrainSet(d, hp({ random_labels_fraction: 0.5 }), 7);
  // ceil(101 × 0.5) = 51 examples get a random label (some draw 0, the label they had).
  const changed = [...labelsOnly.labels].filter((l) => l !== 0).length;
  assert.ok(changed > 30 && changed <= 51, `${changed} labels changed`);
  const both = transformTrainSet(d, hp({ random_labels_fraction: 0.5, subsample_fraction: 0.5 }), 7);
  assert.equal(both.count, 51);
  for (let j = 0; j < both.count; j++) {
    const source = both.images[j * 4]!;
    assert.equal(both.labels[j], labelsOnly.labels[source], `kept example ${source} has the label the whole set's relabelling gave it`);
  }
});
