// Mixed precision (--apex-fp16) without a GPU: the flag in both spellings, run hashes (unset: every
// existing hash unchanged; set: part of the training group, as OpenLTH hashes apex_fp16), pack keys,
// the checkpoint's loss-scaler metadata, which gradients are f16, and GradScaler's rules in the
// reference with forced overflows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hparamsHash, hparamsHashInput, parseHparamArgv, presetHparams } from '../../src/train/hparams.ts';
import { packKey } from '../../src/train/train-pack.ts';
import { decodeCheckpoint, encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { stateLayout } from '../../src/nn/model-state.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { autocastParameters } from '../../src/nn/graph.ts';
import { optimizerLayout, freshOptimizerState } from '../../src/train/optimizer.ts';
import { CorruptFileError } from '../../src/train/storage.ts';
import { updateScaler, unscale, type ScalerRef } from '../../src/ref/amp.ts';
import { GRAD_SCALER_DEFAULTS, powF32, scalerState, SCALER } from '../../src/kernels/amp.ts';

const base = ['--default-hparams', 'cifar_resnet_20'];

test('--apex-fp16 and OpenLTH\'s --apex_fp16 set training.apex_fp16; unset leaves the hash as it was', () => {
  const off = parseHparamArgv(base).hparams, on = parseHparamArgv([...base, '--apex-fp16']).hparams;
  assert.equal(off.training.apex_fp16, false);
  assert.equal(on.training.apex_fp16, true);
  assert.equal(parseHparamArgv([...base, '--apex_fp16']).hparams.training.apex_fp16, true);
  assert.equal(parseHparamArgv([...base, '--apex-fp16=false']).hparams.training.apex_fp16, false);
  // Pinned in test/unit/hparams.test.ts too: the preset's folder name does not move.
  assert.equal(hparamsHash(off), hparamsHash(presetHparams('cifar_resnet_20')));
  assert.ok(!hparamsHashInput(off).includes('apex_fp16'));
  assert.notEqual(hparamsHash(on), hparamsHash(off));
  assert.match(hparamsHashInput(on), /"training":\{"apex_fp16":true,/);
});

test('pack keys: fp32 keys unchanged, AMP and fp32 runs never share a pack', () => {
  const off = parseHparamArgv(base).hparams, on = parseHparamArgv([...base, '--apex-fp16']).hparams;
  assert.equal(packKey(off), '{"batch":128,"labels":null,"model":"cifar_resnet_20","optimizer":"sgd","pad":false,"subsample":null}');
  assert.notEqual(packKey(on), packKey(off));
  assert.equal(packKey(on), packKey(parseHparamArgv([...base, '--apex-fp16', '--lr', '0.05']).hparams));
});

test('checkpoints: the loss scaler in the metadata of a mixed-precision run, required when resuming one', () => {
  const { params, stats } = stateLayout(getModel('cifar_resnet_8_4'));
  const state = {
    params: new Float32Array(params.elements), stats: new Float32Array(stats.elements),
    optimizer: { ...freshOptimizerState(optimizerLayout('sgd'), params.elements), steps: 17 },
  };
  const bounds = { start: 0, total: 40, perEpoch: 20 };
  const bytes = encodeCheckpoint(params, stats, { ...state, amp: { scale: 2 ** 13, growthTracker: 5 } }, 20, {});
  const back = decodeCheckpoint(bytes, 'c', params, stats, optimizerLayout('sgd'), bounds, { amp: true });
  assert.deepEqual(back.amp, { scale: 8192, growthTracker: 5 });
  assert.equal(back.optimizer.steps, 17, 'the steps the optimiser applied (skipped ones not counted)');
  assert.equal(decodeCheckpoint(bytes, 'c', params, stats, optimizerLayout('sgd'), bounds).amp, undefined, 'an fp32 run ignores it');
  const fp32 = encodeCheckpoint(params, stats, state, 20, {});
  assert.throws(() => decodeCheckpoint(fp32, 'c', params, stats, optimizerLayout('sgd'), bounds, { amp: true }),
    (e: Error) => e instanceof CorruptFileError && /loss scaler/.test(e.message));
  const huge = encodeCheckpoint(params, stats, { ...state, amp: { scale: 2 ** 100, growthTracker: 0 } }, 20, {});
  assert.equal(decodeCheckpoint(huge, 'c', params, stats, optimizerLayout('sgd'), bounds, { amp: true }).amp!.scale, 2 ** 100);
  const odd = encodeCheckpoint(params, stats, { ...state, amp: { scale: 3, growthTracker: 0 } }, 20, {});
  assert.throws(() => decodeCheckpoint(odd, 'c', params, stats, optimizerLayout('sgd'), bounds, { amp: true }), /power of two/);
});

test('autocast\'s f16 parameters: conv and linear weights and biases, not batch norm', () => {
  const names = [...autocastParameters(getModel('cifar_resnet_8_4').layers)];
  assert.ok(names.includes('conv.weight') && names.includes('fc.weight') && names.includes('fc.bias'));
  assert.ok(names.includes('blocks.1.shortcut.0.weight'));
  assert.ok(!names.some((n) => /bn|shortcut\.1/.test(n)), names.join(', '));
});

/** GradScaler over a sequence of found-inf flags: the scales each step used, and the final state. */
function run(flags: boolean[], interval: number): { used: number[]; s: ScalerRef } {
  let s: ScalerRef = { scale: GRAD_SCALER_DEFAULTS.initScale, tracker: 0, applied: 0 };
  const used: number[] = [];
  for (const f of flags) { used.push(s.scale); s = updateScaler(s, f, interval); }
  return { used, s };
}

test('GradScaler\'s rules: an overflow halves S and resets the count; `interval` clean steps double S', () => {
  const r = run([false, true, true, false, false, false, false, true], 3);
  assert.deepEqual(r.used, [65536, 65536, 32768, 16384, 16384, 16384, 32768, 32768]);
  assert.deepEqual(r.s, { scale: 16384, tracker: 0, applied: 5 });
  const d = run(Array(2000).fill(false), GRAD_SCALER_DEFAULTS.growthInterval);
  assert.deepEqual(d.s, { scale: 2 ** 17, tracker: 0, applied: 2000 }, 'the default interval: ×2 after 2,000 clean steps');
  assert.equal(d.used.at(-1), 2 ** 16);
  // unscale_: inf anywhere is found; f16 gradients are rounded before the division.
  assert.equal(unscale([1, Infinity], [0, 0], 2).foundInf, true);
  assert.equal(unscale([1, NaN], [0, 0], 2).foundInf, true);
  assert.deepEqual([...unscale([1.0001, 3], [1, 0], 2).grads], [0.5, 1.5]);
});

test('scaler state as uploaded on a resume: 1/S exact, β^t as the GPU\'s f32 products', () => {
  const s = scalerState({ scale: 2 ** 10, tracker: 7, applied: 3, beta1: 0.9, beta2: 0.999 });
  assert.equal(s[SCALER.invScale], 2 ** -10);
  assert.equal(s[SCALER.tracker], 7);
  assert.equal(s[SCALER.powBeta1], Math.fround(Math.fround(Math.fround(Math.fround(0.9) * Math.fround(0.9))) * Math.fround(0.9)));
  assert.equal(powF32(0.9, 2000), 0, 'underflow is flushed to 0, as amp_update writes it');
  assert.equal(powF32(0, 5), 0);
});
