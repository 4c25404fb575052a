// Batch-norm `num_batches_tracked` in weights files and checkpoints (hardening item 16): written as
// PyTorch has it (I64, shape []) so OpenLTH's models load our files with strict=True; files without
// it (runs from before) still load; a malformed one is refused naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena } from '../../src/gpu/tensor.ts';
import { decodeSafetensors, encodeSafetensors, type TensorInput } from '../../src/io/safetensors.ts';
import { decodeCheckpoint, decodeWeights, encodeCheckpoint, encodeWeights } from '../../src/train/checkpoint.ts';
import { freshOptimizerState, optimizerLayout } from '../../src/train/optimizer.ts';

const params = new Arena('params');
for (const [n, s] of [['conv.weight', [2, 1, 3, 3]], ['bn.weight', [2]], ['bn.bias', [2]], ['b.1.weight', [2]], ['b.1.bias', [2]]] as const) params.add(n, s);
const stats = new Arena('bn_stats');
for (const n of ['bn.running_mean', 'bn.running_var', 'b.1.running_mean', 'b.1.running_var']) stats.add(n, [2]);
const sgd = optimizerLayout('sgd');
const state = { params: new Float32Array(params.elements).fill(0.25), stats: new Float32Array(stats.elements).fill(1), optimizer: freshOptimizerState(sgd, params.elements) };
const bounds = { start: 0, total: 100, perEpoch: 10 };
const COUNTERS = ['b.1.num_batches_tracked', 'bn.num_batches_tracked'];

/** The tensors of `bytes`, edited: `edit` may delete or replace entries; metadata is kept. */
function rewrite(bytes: Uint8Array, edit: (t: Record<string, TensorInput>) => void): Uint8Array {
  const f = decodeSafetensors(bytes, 'x');
  const t: Record<string, TensorInput> = Object.fromEntries([...f.tensors].map(([k, v]) => [k, { shape: v.shape, data: v.data, dtype: v.dtype }]));
  edit(t);
  return encodeSafetensors(t, f.metadata);
}

test('weights file: one I64 scalar num_batches_tracked per batch-norm layer, holding the iteration', () => {
  const f = decodeSafetensors(encodeWeights(params, stats, state, { iteration: '40' }), 'w');
  assert.deepEqual([...f.tensors.keys()].filter((k) => k.endsWith('num_batches_tracked')).sort(), COUNTERS);
  for (const n of COUNTERS) {
    const t = f.tensors.get(n)!;
    assert.equal(t.dtype, 'I64');
    assert.deepEqual(t.shape, []);
    assert.deepEqual([...(t.data as BigInt64Array)], [40n]);
  }
  assert.throws(() => encodeWeights(params, stats, state, {}), /encodeWeights: metadata iteration undefined/);
});

test('weights file: loads with the counters and without them (runs written before they existed)', () => {
  const w = encodeWeights(params, stats, state, { iteration: '40' });
  assert.equal(decodeWeights(w, 'w', params, stats, 40).params[0], 0.25);
  const old = rewrite(w, (t) => { for (const n of COUNTERS) delete t[n]; });
  const s = decodeWeights(old, 'old', params, stats, 40);
  assert.deepEqual(s, decodeWeights(w, 'w', params, stats, 40));
});

test('weights file: malformed counters are refused naming the file', () => {
  const w = encodeWeights(params, stats, state, { iteration: '40' });
  const cases: [string, (t: Record<string, TensorInput>) => void, RegExp][] = [
    ['one of two', (t) => { delete t['bn.num_batches_tracked']; }, /missing bn\.num_batches_tracked/],
    ['F32', (t) => { t['bn.num_batches_tracked'] = { shape: [], data: Float32Array.of(40) }; }, /dtype mismatch bn\.num_batches_tracked is F32, expected I64/],
    ['shape [1]', (t) => { t['bn.num_batches_tracked'] = { shape: [1], data: BigInt64Array.of(40n) }; }, /shape mismatch bn\.num_batches_tracked is \[1\] in the file, the model has \[\]/],
    ['negative', (t) => { t['bn.num_batches_tracked'] = { shape: [], data: BigInt64Array.of(-1n) }; }, /is corrupt \(tensor bn\.num_batches_tracked holds -1; a count of batches is never negative/],
    ['no such layer', (t) => { t['conv.num_batches_tracked'] = { shape: [], data: BigInt64Array.of(1n) }; }, /unexpected conv\.num_batches_tracked/],
  ];
  for (const [what, edit, re] of cases) {
    assert.throws(() => decodeWeights(rewrite(w, edit), 'run/model_ep4_it0.safetensors', params, stats, 40), (e: unknown) =>
      e instanceof Error && e.message.startsWith('run/model_ep4_it0.safetensors') && re.test(e.message) && !e.message.includes('\n'), what);
  }
});

test('checkpoint: counters hold its iteration; with or without them it resumes; malformed ones are refused', () => {
  const c = encodeCheckpoint(params, stats, state, 30, {});
  const f = decodeSafetensors(c, 'c');
  for (const n of COUNTERS) assert.deepEqual([...(f.tensors.get(n)!.data as BigInt64Array)], [30n]);
  assert.equal(decodeCheckpoint(c, 'c', params, stats, sgd, bounds).iteration, 30);
  const old = rewrite(c, (t) => { for (const n of COUNTERS) delete t[n]; });
  assert.equal(decodeCheckpoint(old, 'c', params, stats, sgd, bounds).iteration, 30);
  const bad = rewrite(c, (t) => { t['bn.num_batches_tracked'] = { shape: [], data: Int32Array.of(30) }; });
  assert.throws(() => decodeCheckpoint(bad, 'run/checkpoint.safetensors', params, stats, sgd, bounds), /^SafetensorsError: run\/checkpoint\.safetensors: .*dtype mismatch bn\.num_batches_tracked is I32, expected I64/);
});

test('a model without batch norm writes no counters', () => {
  const p = new Arena('params'); p.add('fc.weight', [2, 2]); p.add('fc.bias', [2]);
  const s = new Arena('bn_stats');
  const f = decodeSafetensors(encodeWeights(p, s, { params: new Float32Array(p.elements), stats: new Float32Array(s.elements) }, { iteration: '0' }), 'w');
  assert.deepEqual([...f.tensors.keys()].sort(), ['fc.bias', 'fc.weight']);
});
