// Masked SGD over the whole parameter arena: one dispatch updates every weight of the model.
// Momentum, weight decay and Nesterov are fixed when the dispatch is built; the learning rate
// changes every step (warm-up, schedules), so it lives in the uniform and setLearningRate
// rewrites those 4 bytes with queue.writeBuffer: ordered before the next submit, no rebuild.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform, writeUniform } from '../gpu/uniforms.ts';

const SHADER = 'sgd.wgsl';
const WG = 256;
const PARAMS = [['n', 'u32'], ['lr', 'f32'], ['momentum', 'f32'], ['weight_decay', 'f32'], ['nesterov', 'u32']] as const;
const LR_BYTE_OFFSET = PARAMS.findIndex(([name]) => name === 'lr') * 4;

export interface SgdTensors {
  /** Updated in place. */
  weights: Tensor;
  grads: Tensor;
  /** Momentum buffers, updated in place; start at zero. */
  momenta: Tensor;
  /** f32 0/1: where 0, the weight and its momentum are set to exactly 0. */
  mask: Tensor;
}

export interface SgdOptions {
  lr: number;
  /** μ; 0 is plain SGD. */
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface MaskedSgd {
  dispatch: Dispatch;
  /** Takes effect from the next submitted step. */
  setLearningRate(lr: number): void;
}

function checkLearningRate(lr: number): void {
  if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`sgd_masked: learning rate must be finite and >= 0, got ${lr}`);
}

/**
 * `scaler` (mixed precision): the loss scaler's state (src/kernels/amp.ts); the dispatch then skips
 * the whole update when the state says this step's gradients hold an inf or NaN.
 */
export function sgdMasked(gpu: Gpu, t: SgdTensors, o: SgdOptions, scaler?: Tensor): MaskedSgd {
  const n = t.weights.length;
  for (const x of [t.grads, t.momenta, t.mask]) {
    assertShape(x.length === n, `sgd_masked: ${x.name} has ${x.length} elements, expected ${n} (same as ${t.weights.name})`);
  }
  checkLearningRate(o.lr);
  if (!(Number.isFinite(o.momentum) && o.momentum >= 0)) throw new RangeError(`sgd_masked: momentum must be >= 0, got ${o.momentum}`);
  if (!(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) throw new RangeError(`sgd_masked: weight decay must be >= 0, got ${o.weightDecay}`);
  if (o.nesterov && o.momentum === 0) throw new RangeError('sgd_masked: Nesterov momentum requires momentum > 0 (as in PyTorch)');
  const uniform = createUniform(gpu, 'sgd_masked-params', PARAMS,
    { n, lr: o.lr, momentum: o.momentum, weight_decay: o.weightDecay, nesterov: o.nesterov ? 1 : 0 }, { mutable: true });
  const entry = scaler ? 'sgd_masked_amp' : 'sgd_masked';
  const dispatch = makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG }, label: `${entry}(${t.weights.name})`,
    bindings: [{ write: t.weights }, { read: t.grads }, { write: t.momenta }, { read: t.mask }, { uniform }, ...(scaler ? [{ read: scaler }] : [])],
    workgroups: grid1d(n, WG),
  });
  return {
    dispatch,
    setLearningRate(lr: number) {
      checkLearningRate(lr);
      writeUniform(gpu, uniform, LR_BYTE_OFFSET, new Float32Array([lr]));
    },
  };
}
