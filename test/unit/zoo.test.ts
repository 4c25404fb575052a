// Parameter counts must equal OpenLTH's (its model definitions), so hashes, sparsities and checkpoints line up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getModel, MODEL_EXAMPLES, modelForData } from '../../src/nn/zoo.ts';
import { countParameters, parameters } from '../../src/nn/graph.ts';

const EXPECTED: Record<string, { total: number; prunable?: number }> = {
  mnist_lenet_300_100: { total: 266_610, prunable: 266_200 },
  cifar_resnet_20: { total: 272_474, prunable: 270_896 },
  cifar_resnet_56: { total: 855_770 },
  cifar_resnet_110: { total: 1_730_714 },
  cifar_vgg_13: { total: 9_416_010 },
  cifar_vgg_19: { total: 20_040_522 },
  cifar_resnet18: { total: 11_173_962 },
};

for (const [name, want] of Object.entries(EXPECTED)) {
  test(`${name} has OpenLTH's parameter count`, () => {
    const c = countParameters(getModel(name));
    assert.equal(c.total, want.total);
    if (want.prunable !== undefined) assert.equal(c.prunable, want.prunable);
  });
}

// Hand count: stem 3·128·9 + BN; segment 1: 4 convs 128²·9; segment 2: 128→256 conv, three 256²·9
// convs, 1×1 shortcut 128·256; segment 3 likewise at 512; BN γ,β per conv; fc 512·10 + 10.
test('WRN-16-8 (cifar_resnet_16_128) has 2 blocks per segment and 11,093,130 parameters', () => {
  const m = getModel('cifar_resnet_16_128');
  assert.equal(m.layers.filter((l) => l.op === 'residual').length, 6);
  assert.equal(countParameters(m).total, 11_093_130);
});

test('OpenLTH parameter names', () => {
  const names = parameters(getModel('cifar_resnet_20').layers).map((p) => p.name);
  for (const n of ['conv.weight', 'bn.weight', 'blocks.0.conv1.weight', 'blocks.3.shortcut.0.weight', 'blocks.3.shortcut.1.bias', 'fc.weight', 'fc.bias']) {
    assert.ok(names.includes(n), `missing ${n}`);
  }
  assert.deepEqual(parameters(getModel('mnist_lenet_300_100').layers).map((p) => p.name),
    ['fc_layers.0.weight', 'fc_layers.0.bias', 'fc_layers.1.weight', 'fc_layers.1.bias', 'fc.weight', 'fc.bias']);
});

test('every listed model builds, and unknown names are rejected with the expected forms', () => {
  for (const m of MODEL_EXAMPLES) assert.ok(countParameters(getModel(m)).total > 0, m);
  for (const bad of ['cifar_resnet_21', 'cifar_resnet_15', 'cifar_vgg_12', 'mnist_lenet_', 'resnet50', 'cifar_resnet_20_0']) {
    assert.throws(() => getModel(bad), /unknown model .*cifar_resnet_D/);
  }
});

test('conv nets and LeNet take their first layer from the dataset images (Conv-2 on Fashion-MNIST)', () => {
  const conv2 = modelForData('cifar_conv_2', { channels: 1, height: 28, width: 28 }, 10);
  assert.deepEqual(conv2.input, [1, 28, 28]);
  // conv 1→64 (640) + conv 64→64 (36,928) + fc 64·14·14→256 (3,211,520) + fc 256→256 (65,792) + fc 256→10 (2,570)
  assert.equal(countParameters(conv2).total, 3_317_450);
  // Conv-6: 28 → 14 → 7 → 3 (floor mode) before fc_layers.0.
  const conv6 = modelForData('cifar_conv_6', { channels: 1, height: 28, width: 28 }, 10);
  const fc0 = conv6.layers.find((n) => n.op === 'linear');
  assert.equal(fc0?.op === 'linear' ? fc0.in : null, 256 * 3 * 3);
  assert.equal(countParameters(modelForData('mnist_lenet_300_100', { channels: 3, height: 32, width: 32 }, 10)).total, 3072 * 300 + 300 + 30_100 + 1010);
  assert.equal(countParameters(modelForData('cifar_resnet_20', { channels: 1, height: 28, width: 28 }, 4)).total, 272_474 - 2 * 9 * 16 - 65 * 6);
  assert.throws(() => modelForData('cifar_vgg_11', { channels: 1, height: 28, width: 28 }, 10), /at least 32×32/);
  // Without a dataset shape every family keeps the images its name says (the pinned counts above).
  assert.deepEqual(getModel('cifar_conv_2').input, [3, 32, 32]);
});
