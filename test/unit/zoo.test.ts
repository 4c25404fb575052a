// Parameter counts must equal OpenLTH's (PAPER.md §5), so hashes, sparsities and checkpoints line up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getModel, MODEL_EXAMPLES } from '../../src/nn/zoo.ts';
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
