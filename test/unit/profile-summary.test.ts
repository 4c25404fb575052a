// `earlyphase profile`'s grouping rules: kernel and layer from a dispatch label, group sums and rates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatchTimes, group, kernelOf, layerOf } from '../../runner/tools/profile/summary.ts';

test('kernel = entry point before the parenthesis; layer = tensor name without arena prefix and role suffix', () => {
  const cases: [string, string, string][] = [
    ['conv2d_forward(blocks.0.conv1.out)', 'conv2d_forward', 'blocks.0.conv1'],
    ['conv2d_backward_weight(grads.blocks.0.conv1.weight)', 'conv2d_backward_weight', 'blocks.0.conv1'],
    ['conv2d_pack_forward(params.blocks.3.shortcut.0.weight)', 'conv2d_pack_forward', 'blocks.3.shortcut.0'],
    ['conv2d_backward_input(blocks.0.conv1.dx)', 'conv2d_backward_input', 'blocks.0.conv1'],
    ['batchnorm_backward_params(grads.bn.weight)', 'batchnorm_backward_params', 'bn'],
    ['linear_relu_backward_bias(grads.fc_layers.1.bias)', 'linear_relu_backward_bias', 'fc_layers.1'],
    ['relu_backward(l3.body.2.relu.dx)', 'relu_backward', 'l3.body.2'],
    ['add_forward(l3.sum)', 'add_forward', 'l3'],
    ['add_forward(l19.dx)', 'add_forward', 'l19'],
    ['global_avgpool_backward(l21.gap.dx)', 'global_avgpool_backward', 'l21'],
    ['linear_forward(l2.relu)', 'linear_forward', 'l2'],
    ['sgd_masked(params)', 'sgd_masked', 'params'],
    ['batch_gather(input)', 'batch_gather', 'input'],
    ['gather_forward(a.out → b.out)', 'gather_forward', 'b'],
    ['plain_entry', 'plain_entry', '-'],
  ];
  for (const [label, kernel, layer] of cases) {
    assert.equal(kernelOf(label), kernel, label);
    assert.equal(layerOf(label), layer, label);
  }
});

test('groups: medians per dispatch, sums, shares, GFLOP/s over the dispatches that state flops', () => {
  const list = [
    { label: 'linear_forward(fc.out)', flops: 2e6, bytes: 4e6 },
    { label: 'softmax_cross_entropy_forward_backward(fc.out)', bytes: 1e6 },
    { label: 'linear_forward(fc_layers.0.out)', flops: 6e6, bytes: 2e6 },
  ];
  const rows = dispatchTimes(list, [[1, 1, 3], [3, 1, 3], [2, 4, 3]]);
  assert.deepEqual(rows.map((r) => r.ms), [2, 1, 3]);
  assert.equal(rows[0]!.gflops, 2e6 / 2 / 1e6);
  assert.equal(rows[1]!.gflops, null);
  const byKernel = group(rows, (r) => r.kernel);
  assert.deepEqual(byKernel.map((g) => [g.name, g.count, g.ms]), [['linear_forward', 2, 5], ['softmax_cross_entropy_forward_backward', 1, 1]]);
  assert.ok(Math.abs(byKernel[0]!.percent - 500 / 6) < 1e-12);
  assert.equal(byKernel[0]!.gflops, 8e6 / 5 / 1e6);
  const fc = group(rows, (r) => r.layer).find((g) => g.name === 'fc')!;
  assert.equal(fc.count, 2);
  assert.equal(fc.flops, 2e6);
  assert.equal(fc.gflops, 2e6 / 2 / 1e6, 'GFLOP/s over the timed dispatches with flops only');
  assert.equal(fc.gbps, 5e6 / 3 / 1e6);
});
