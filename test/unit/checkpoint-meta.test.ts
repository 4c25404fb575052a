// A checkpoint is cross-checked against the run it resumes (issue 15 item 7): its iteration must
// be plain decimal digits, an epoch end after the run's start and not past its end (the last
// iteration may end a short epoch); a weights file's metadata iteration must be its name's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena } from '../../src/gpu/tensor.ts';
import { decodeCheckpoint, decodeWeights, encodeCheckpoint, encodeWeights } from '../../src/train/checkpoint.ts';
import { freshOptimizerState, optimizerLayout } from '../../src/train/optimizer.ts';
import { CorruptFileError } from '../../src/train/storage.ts';

const params = new Arena('params'); params.add('fc.weight', [3, 2]); params.add('fc.bias', [3]);
const stats = new Arena('bn_stats'); stats.add('bn.running_mean', [2]);
const sgd = optimizerLayout('sgd');
const state = { params: new Float32Array(params.elements).fill(0.5), stats: new Float32Array(stats.elements), optimizer: freshOptimizerState(sgd, params.elements) };
// start 0, 10 iterations per epoch, 95 in all: checkpoints at 10, 20, …, 90 and 95.
const bounds = { start: 0, total: 95, perEpoch: 10 };
const ckpt = (iteration: string) => encodeCheckpoint(params, stats, state, 0, { iteration });

test('checkpoint iteration: epoch ends within the run, in decimal digits, are accepted', () => {
  for (const it of ['10', '90', '95']) assert.equal(decodeCheckpoint(ckpt(it), 'c', params, stats, sgd, bounds).iteration, Number(it));
  assert.equal(decodeCheckpoint(ckpt('25'), 'c', params, stats, sgd, { start: 15, total: 95, perEpoch: 5 }).iteration, 25);
});

test('checkpoint iteration: mid-epoch, non-decimal, at the start or past the end ⇒ CorruptFileError naming the file', () => {
  for (const it of ['45', '1e2', '0x64', '0', '1000000', '010', '-10', ' 10', '10.0', '']) {
    assert.throws(() => decodeCheckpoint(ckpt(it), 'run/checkpoint.safetensors', params, stats, sgd, bounds),
      (e: unknown) => e instanceof CorruptFileError && e.message.startsWith('run/checkpoint.safetensors is corrupt') && !e.message.includes('\n'), `iteration "${it}"`);
  }
});

test('weights file: metadata iteration must be the one its name says', () => {
  const w = encodeWeights(params, stats, state, { iteration: '5' });
  assert.equal(decodeWeights(w, 'model_ep0_it5', params, stats, 5).params[0], 0.5);
  assert.throws(() => decodeWeights(w, 'model_ep0_it6', params, stats, 6), /model_ep0_it6 is corrupt \(metadata iteration "5" is not 6/);
});
