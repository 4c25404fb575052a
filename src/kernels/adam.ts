// Masked Adam over the whole parameter arena: one dispatch updates every weight of the model.
// β1, β2, ε and weight decay are fixed when the dispatch is built; the learning rate (schedules)
// and the step count t change every step, so setStep rewrites the two scalars that depend on them
// — lr/(1−β1^t) and √(1−β2^t), computed here in float64 as PyTorch does in Python floats — with
// one queue.writeBuffer, ordered before the next submit, no rebuild.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform, writeUniform } from '../gpu/uniforms.ts';

const SHADER = 'adam.wgsl';
const WG = 256;
const PARAMS = [['n', 'u32'], ['step_size', 'f32'], ['bc2_sqrt', 'f32'], ['beta1', 'f32'], ['beta2', 'f32'], ['eps', 'f32'],
  ['weight_decay', 'f32']] as const;
const STEP_BYTE_OFFSET = PARAMS.findIndex(([name]) => name === 'step_size') * 4;

/** torch.optim.Adam's defaults, which OpenLTH keeps (it passes only lr and weight_decay). */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

export interface AdamTensors {
  /** Updated in place. */
  weights: Tensor;
  grads: Tensor;
  /** First moment m, updated in place; starts at zero. */
  expAvg: Tensor;
  /** Second moment v, updated in place; starts at zero. */
  expAvgSq: Tensor;
  /** f32 0/1: where 0, the weight and both moments are set to exactly 0. */
  mask: Tensor;
}

export interface AdamOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export interface MaskedAdam {
  dispatch: Dispatch;
  /** The next submitted step is step `t` (1 for a fresh optimiser) at learning rate `lr`. */
  setStep(lr: number, t: number): void;
}

/** PyTorch's per-step scalars: step_size = lr / (1 − β1^t), bc2_sqrt = √(1 − β2^t). */
export function adamStepScalars(lr: number, t: number, o: Pick<AdamOptions, 'beta1' | 'beta2'>): { stepSize: number; bc2Sqrt: number } {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`adam_masked: learning rate must be finite and >= 0, got ${lr}`);
  if (!(Number.isInteger(t) && t >= 1)) throw new RangeError(`adam_masked: step count must be an integer >= 1, got ${t}`);
  return { stepSize: lr / (1 - o.beta1 ** t), bc2Sqrt: Math.sqrt(1 - o.beta2 ** t) };
}

export function adamMasked(gpu: Gpu, t: AdamTensors, o: AdamOptions): MaskedAdam {
  const n = t.weights.length;
  for (const x of [t.grads, t.expAvg, t.expAvgSq, t.mask]) {
    assertShape(x.length === n, `adam_masked: ${x.name} has ${x.length} elements, expected ${n} (same as ${t.weights.name})`);
  }
  for (const [name, v] of [['beta1', o.beta1], ['beta2', o.beta2]] as const) {
    if (!(v >= 0 && v < 1)) throw new RangeError(`adam_masked: ${name} must be in [0, 1), got ${v}`);
  }
  if (!(Number.isFinite(o.eps) && o.eps > 0)) throw new RangeError(`adam_masked: eps must be > 0, got ${o.eps}`);
  if (!(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) throw new RangeError(`adam_masked: weight decay must be >= 0, got ${o.weightDecay}`);
  const first = adamStepScalars(0, 1, o);
  const uniform = createUniform(gpu, 'adam_masked-params', PARAMS,
    { n, step_size: first.stepSize, bc2_sqrt: first.bc2Sqrt, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weightDecay }, { mutable: true });
  const dispatch = makeDispatch(gpu, {
    shader: SHADER, entry: 'adam_masked', constants: { WG }, label: `adam_masked(${t.weights.name})`,
    bindings: [{ write: t.weights }, { read: t.grads }, { write: t.expAvg }, { write: t.expAvgSq }, { read: t.mask }, { uniform }],
    workgroups: grid1d(n, WG),
  });
  return {
    dispatch,
    setStep(lr: number, step: number) {
      const s = adamStepScalars(lr, step, o);
      writeUniform(gpu, uniform, STEP_BYTE_OFFSET, new Float32Array([s.stepSize, s.bc2Sqrt]));
    },
  };
}

const AMP_PARAMS = [['n', 'u32'], ['lr', 'f32'], ['beta1', 'f32'], ['beta2', 'f32'], ['eps', 'f32'], ['weight_decay', 'f32']] as const;
const AMP_LR_BYTE_OFFSET = AMP_PARAMS.findIndex(([name]) => name === 'lr') * 4;

export interface MaskedAdamAmp {
  dispatch: Dispatch;
  /** Takes effect from the next submitted step. */
  setLearningRate(lr: number): void;
}

/**
 * Masked Adam under mixed precision: skips the step when the loss scaler's state (src/kernels/amp.ts)
 * says its gradients hold an inf or NaN, and takes t and β^t from that state, which counts the steps
 * applied (the host cannot: it learns of a skipped step a few steps later). The bias corrections are
 * then f32 on the GPU, not float64 on the host as in adamMasked.
 */
export function adamMaskedAmp(gpu: Gpu, t: AdamTensors, o: AdamOptions, scaler: Tensor): MaskedAdamAmp {
  const n = t.weights.length;
  for (const x of [t.grads, t.expAvg, t.expAvgSq, t.mask]) {
    assertShape(x.length === n, `adam_masked_amp: ${x.name} has ${x.length} elements, expected ${n} (same as ${t.weights.name})`);
  }
  for (const [name, v] of [['beta1', o.beta1], ['beta2', o.beta2]] as const) {
    if (!(v >= 0 && v < 1)) throw new RangeError(`adam_masked_amp: ${name} must be in [0, 1), got ${v}`);
  }
  if (!(Number.isFinite(o.eps) && o.eps > 0)) throw new RangeError(`adam_masked_amp: eps must be > 0, got ${o.eps}`);
  const uniform = createUniform(gpu, 'adam_masked_amp-params', AMP_PARAMS,
    { n, lr: 0, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weight_decay: o.weightDecay }, { mutable: true });
  const dispatch = makeDispatch(gpu, {
    shader: SHADER, entry: 'adam_masked_amp', constants: { WG }, label: `adam_masked_amp(${t.weights.name})`,
    bindings: [{ write: t.weights }, { read: t.grads }, { write: t.expAvg }, { write: t.expAvgSq }, { read: t.mask }, { uniform }, { read: scaler }],
    workgroups: grid1d(n, WG),
  });
  return {
    dispatch,
    setLearningRate(lr: number) {
      if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`adam_masked_amp: learning rate must be finite and >= 0, got ${lr}`);
      writeUniform(gpu, uniform, AMP_LR_BYTE_OFFSET, new Float32Array([lr]));
    },
  };
}
