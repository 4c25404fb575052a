// `--init-weights FILE` before any GPU work (runner/data/init-weights.ts, src/train/init-weights.ts):
// the file becomes the hyperparameter init_weights_sha256 (and so the run's hash), decodes strictly
// for the run's model, and everything else is one line naming the file (and the tensor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { encodeSafetensors } from '../../src/io/safetensors.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import { encodeWeights } from '../../src/train/checkpoint.ts';
import { hparamsHash, parseHparamArgv } from '../../src/train/hparams.ts';
import { initWeightsFor } from '../../src/train/init-weights.ts';
import { stateLayout } from '../../src/nn/model-state.ts';
import { argvWithInitWeights, checkInitWeights } from '../../runner/data/init-weights.ts';
import { tempDir } from '../temp-dir.ts';

const dir = tempDir('earlyphase-init-weights-');
const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist'];
const spec = getModel('mnist_lenet_300_100');
const { params, stats } = stateLayout(spec);
const weights = initParameters(spec, params, 42, 'uniform');
const file = join(dir, 'w.safetensors');
writeFileSync(file, encodeWeights(params, stats, { params: weights, stats: initRunningStats(stats) }, { iteration: '0' }));

const refuses = (f: () => unknown, pattern: RegExp) => assert.throws(f, (e: unknown) => e instanceof UserError && pattern.test(e.message) && !e.message.includes('\n'));

test('the file names the run: its SHA-256 is a hyperparameter, unset leaves the hash as it was', () => {
  const argv = argvWithInitWeights(FLAGS, file);
  const sha = createHash('sha256').update(new Uint8Array(encodeWeights(params, stats, { params: weights, stats: initRunningStats(stats) }, { iteration: '0' }))).digest('hex');
  assert.deepEqual(argv, [...FLAGS, `--init-weights-sha256=${sha}`]);
  const { hparams } = parseHparamArgv(argv);
  assert.equal(hparams.model.init_weights_sha256, sha);
  assert.notEqual(hparamsHash(hparams), hparamsHash(parseHparamArgv(FLAGS).hparams));
  assert.equal(hparamsHash(parseHparamArgv(argvWithInitWeights(FLAGS, undefined)).hparams), hparamsHash(parseHparamArgv(FLAGS).hparams));
  // Decoded for the model, a fresh copy each time (loading a run zeroes pruned weights in place).
  checkInitWeights(hparams, spec);
  const a = initWeightsFor(sha, params, stats), b = initWeightsFor(sha, params, stats);
  assert.deepEqual(a.params, weights);
  assert.notEqual(a.params, b.params);
});

test('bad files and flags are one line naming the file, before any GPU work', () => {
  refuses(() => argvWithInitWeights(FLAGS, join(dir, 'missing.safetensors')), /--init-weights .*missing\.safetensors: cannot open it \(ENOENT\)/);
  mkdirSync(join(dir, 'folder'));
  refuses(() => argvWithInitWeights(FLAGS, join(dir, 'folder')), /is not a file/);
  refuses(() => argvWithInitWeights([...FLAGS, '--init-weights-sha256', 'a'.repeat(64)], file), /not both/);
  // torch.save's two formats: a zip archive, and (before PyTorch 1.6) a bare pickle.
  for (const [name, head] of [['zip.pth', [0x50, 0x4b, 0x03, 0x04]], ['legacy.pth', [0x80, 0x02, 0x8a, 0x0a]]] as const) {
    writeFileSync(join(dir, name), Uint8Array.from([...head, ...new Array(60).fill(7)]));
    refuses(() => argvWithInitWeights(FLAGS, join(dir, name)), /is a PyTorch pickle, not safetensors; save its state_dict as safetensors first/);
  }
  // The hash alone names weights nobody gave.
  refuses(() => checkInitWeights(parseHparamArgv([...FLAGS, '--init-weights-sha256', 'b'.repeat(64)]).hparams, spec), /give the file itself with --init-weights FILE/);
  // Another network's weights, and a tensor of the wrong type: the file and the tensor are named.
  const conv = getModel('cifar_conv_2'), cl = stateLayout(conv);
  const other = join(dir, 'conv.safetensors');
  writeFileSync(other, encodeWeights(cl.params, cl.stats, { params: initParameters(conv, cl.params, 1, 'uniform'), stats: initRunningStats(cl.stats) }, { iteration: '0' }));
  refuses(() => checkInitWeights(parseHparamArgv(argvWithInitWeights(FLAGS, other)).hparams, spec), /conv\.safetensors: does not match the model .*shape mismatch fc_layers\.0\.weight is \[256, 16384\] in the file, the model has \[300, 784\]/);
  const f64 = join(dir, 'f64.safetensors');
  const tensors = Object.fromEntries(params.layout().map(({ name, offset, shape }) => {
    const n = shape.reduce((x, y) => x * y, 1);
    return [name, name === 'fc.bias' ? { shape, data: Float64Array.from(weights.subarray(offset, offset + n)) } : { shape, data: weights.slice(offset, offset + n) }];
  }));
  writeFileSync(f64, encodeSafetensors(tensors));
  refuses(() => checkInitWeights(parseHparamArgv(argvWithInitWeights(FLAGS, f64)).hparams, spec), /f64\.safetensors: .*dtype mismatch fc\.bias is F64, expected F32/);
});
