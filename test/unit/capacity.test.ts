// runner/host/capacity.ts: per-sample activation sizes from the layer tree, and the refusal of a batch
// that cannot fit (issue 14 item 6), against limits given here (no adapter needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getModel } from '../../src/nn/zoo.ts';
import { checkFits, footprint } from '../../runner/host/capacity.ts';

test('footprint: LeNet-300-100 and ResNet-20 per-sample activations', () => {
  const lenet = footprint(getModel('mnist_lenet_300_100'));
  assert.equal(lenet.largest, 784);
  assert.equal(lenet.largestWhat, 'input batch');
  assert.equal(lenet.total, 784 + 2 * 300 + 2 * 100 + 10); // input, fc + relu outputs, logits
  const resnet = footprint(getModel('cifar_resnet_20'));
  assert.equal(resnet.largest, 16 * 32 * 32, 'the first conv output, 16×32×32');
});

test('checkFits: the binding limit and (CPU adapters) the machine memory, naming --batch-size and what fits', () => {
  const spec = getModel('mnist_lenet_300_100');
  const cap = { name: 'llvmpipe', maxBinding: 128 * 2 ** 20, memory: 8 * 2 ** 30 };
  checkFits(spec, 128, cap);
  const fits = Math.floor(cap.maxBinding / (784 * 4));
  checkFits(spec, fits, cap);
  assert.throws(() => checkFits(spec, fits + 1, cap), new RegExp(`^UserError: --batch-size ${fits + 1}: the input batch .* use --batch-size ${fits} or less$`));
  assert.throws(() => checkFits(spec, 2 ** 20, { ...cap, maxBinding: 2 ** 40, memory: 2 ** 30 }), /needs at least \d+\.\d GiB, more than this machine's 1\.0 GiB of memory/);
  checkFits(spec, 2 ** 20, { ...cap, maxBinding: 2 ** 40, memory: null }); // a discrete GPU: memory unknown, not refused
});
