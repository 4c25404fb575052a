// Mixed precision (--apex-fp16): the dispatches of shaders/amp.wgsl — rounding to f16 where
// PyTorch's autocast rounds, packed f16 storage of saved activations, loss scaling, unscaling with
// the inf/NaN check, and the dynamic loss scale's update — and the loss scaler's state layout.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'amp.wgsl';
const WG = 256;
const N = [['n', 'u32']] as const;
const UPDATE = [['groups', 'u32'], ['growth_interval', 'u32'], ['slot', 'u32'], ['beta1', 'f32'], ['beta2', 'f32']] as const;

/** The loss scaler's state: one f32 buffer of this many elements per network (see shaders/amp.wgsl). */
export const SCALER_LENGTH = 8;
/** Where each value of the state sits. */
export const SCALER = { scale: 0, invScale: 1, tracker: 2, foundInf: 3, applied: 4, powBeta1: 5, powBeta2: 6 } as const;

/** PyTorch's torch.amp.GradScaler defaults. */
export const GRAD_SCALER_DEFAULTS = { initScale: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 } as const;

/** Words of a packed f16 copy of n values. */
export function packedLength(n: number): number {
  return Math.ceil(n / 2);
}

function elementwise(gpu: Gpu, entry: string, n: number, bindings: Parameters<typeof makeDispatch>[1]['bindings'], label: string, items = n): Dispatch {
  return makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG }, label: `${entry}(${label})`,
    bindings: [...bindings, { uniform: createUniform(gpu, `${entry}-params`, N, { n }) }],
    workgroups: grid1d(items, WG),
  });
}

/** t = f16(t), in place. */
export function ampRound(gpu: Gpu, t: Tensor): Dispatch {
  return elementwise(gpu, 'amp_round', t.length, [{ write: t }], t.name);
}

/** dst = f16(src) (the step's f16 copy of the weights). */
export function ampRoundCopy(gpu: Gpu, src: Tensor, dst: Tensor): Dispatch {
  assertShape(src.length === dst.length, `amp_round_copy: ${dst.name} has ${dst.length} elements, ${src.name} ${src.length}`);
  return elementwise(gpu, 'amp_round_copy', src.length, [{ read: src }, { write: dst }], `${src.name} → ${dst.name}`);
}

/** act = f16(act) in place, and `packed` (packedLength(act.length) words) = its f16 pairs. */
export function ampPack(gpu: Gpu, act: Tensor, packed: Tensor): Dispatch {
  assertShape(packed.length === packedLength(act.length), `amp_pack: ${packed.name} has ${packed.length} words, ${act.name} needs ${packedLength(act.length)}`);
  return elementwise(gpu, 'amp_pack', act.length, [{ write: act }, { write: packed }], `${act.name} → ${packed.name}`, packed.length);
}

/** out = the values of the f16 pairs in `packed`. */
export function ampUnpack(gpu: Gpu, packed: Tensor, out: Tensor): Dispatch {
  assertShape(packed.length === packedLength(out.length), `amp_unpack: ${packed.name} has ${packed.length} words, ${out.name} needs ${packedLength(out.length)}`);
  return elementwise(gpu, 'amp_unpack', out.length, [{ read: packed }, { write: out }], `${packed.name} → ${out.name}`, packed.length);
}

/** A ReLU's backward from its saved (packed f16) output, in place: grad = 0 where the output is not > 0. */
export function ampReluMask(gpu: Gpu, grad: Tensor, packedOut: Tensor): Dispatch {
  assertShape(packedOut.length === packedLength(grad.length), `amp_relu_mask: ${packedOut.name} has ${packedOut.length} words, ${grad.name} needs ${packedLength(grad.length)}`);
  return elementwise(gpu, 'amp_relu_mask', grad.length, [{ write: grad }, { read: packedOut }], `${grad.name} by ${packedOut.name}`, packedOut.length);
}

/** The same out of place: dx = dy where the saved output is > 0, else 0. */
export function ampReluBackward(gpu: Gpu, dy: Tensor, packedOut: Tensor, dx: Tensor): Dispatch {
  assertShape(packedOut.length === packedLength(dy.length) && dx.length === dy.length, `amp_relu_backward: ${dy.name} (${dy.length}), ${packedOut.name} (${packedOut.length} words) and ${dx.name} (${dx.length}) do not match`);
  return elementwise(gpu, 'amp_relu_backward', dy.length, [{ read: dy }, { read: packedOut }, { write: dx }], `${dy.name} → ${dx.name}`, packedOut.length);
}

/** dlogits = f16(S · dlogits), S from the scaler state. */
export function ampScaleGrad(gpu: Gpu, dlogits: Tensor, scaler: Tensor): Dispatch {
  assertShape(scaler.length === SCALER_LENGTH, `amp_scale_grad: ${scaler.name} has ${scaler.length} elements, expected ${SCALER_LENGTH}`);
  return elementwise(gpu, 'amp_scale_grad', dlogits.length, [{ write: dlogits }, { read: scaler }], dlogits.name);
}

/** Elements of the per-workgroup inf/NaN flags amp_unscale writes for a gradient arena of n elements. */
export function unscalePartialsLength(n: number): number {
  const [x, y] = grid1d(n, WG);
  return x * y;
}

/**
 * grads = (halfGrad ≠ 0 ? f16(grads) : grads) / S; partials[g] = whether workgroup g's results
 * hold an inf or NaN. halfGrad marks the gradients of the f16 weight copy (f32 0/1, arena layout).
 */
export function ampUnscale(gpu: Gpu, grads: Tensor, halfGrad: Tensor, scaler: Tensor, partials: Tensor): Dispatch {
  const n = grads.length;
  assertShape(halfGrad.length === n, `amp_unscale: ${halfGrad.name} has ${halfGrad.length} elements, ${grads.name} ${n}`);
  assertShape(scaler.length === SCALER_LENGTH, `amp_unscale: ${scaler.name} has ${scaler.length} elements, expected ${SCALER_LENGTH}`);
  assertShape(partials.length >= unscalePartialsLength(n), `amp_unscale: ${partials.name} has ${partials.length} elements, needs ${unscalePartialsLength(n)}`);
  return makeDispatch(gpu, {
    shader: SHADER, entry: 'amp_unscale', constants: { WG }, label: `amp_unscale(${grads.name})`,
    bindings: [{ write: grads }, { read: halfGrad }, { read: scaler }, { write: partials }, { uniform: createUniform(gpu, 'amp_unscale-params', N, { n }) }],
    workgroups: grid1d(n, WG),
  });
}

export interface ScalerUpdateOptions {
  /** Flags amp_unscale wrote (its grid's workgroup count: unscalePartialsLength). */
  groups: number;
  /** Clean steps before the scale doubles (GradScaler: 2000). */
  growthInterval: number;
  /** stats[slot + 2] = 1 when the step was skipped, stats[slot + 3] = the scale it used. */
  slot: number;
  /** Adam's β1, β2 (their powers count applied steps); 0 for SGD. */
  beta1: number;
  beta2: number;
}

/** found inf = OR of the partials; the step's stats; GradScaler.update(); t and β^t advance on a clean step. */
export function ampUpdate(gpu: Gpu, partials: Tensor, scaler: Tensor, stats: Tensor, o: ScalerUpdateOptions): Dispatch {
  assertShape(scaler.length === SCALER_LENGTH, `amp_update: ${scaler.name} has ${scaler.length} elements, expected ${SCALER_LENGTH}`);
  assertShape(partials.length >= o.groups, `amp_update: ${partials.name} has ${partials.length} elements, ${o.groups} flags expected`);
  assertShape(Number.isInteger(o.slot) && o.slot >= 0 && o.slot + 4 <= stats.length, `amp_update: ${stats.name} has ${stats.length} elements, slot ${o.slot} needs ${o.slot + 4}`);
  if (!(Number.isInteger(o.growthInterval) && o.growthInterval >= 1)) throw new RangeError(`amp_update: growth interval must be an integer >= 1, got ${o.growthInterval}`);
  return makeDispatch(gpu, {
    shader: SHADER, entry: 'amp_update', constants: { WG }, label: `amp_update(${scaler.name})`,
    bindings: [{ read: partials }, { write: scaler }, { write: stats },
      { uniform: createUniform(gpu, 'amp_update-params', UPDATE, { groups: o.groups, growth_interval: o.growthInterval, slot: o.slot, beta1: o.beta1, beta2: o.beta2 }) }],
    workgroups: [1, 1, 1],
  });
}

/** The state of a fresh scaler (or one restored at `applied` steps with `scale` and `tracker`), as uploaded. */
export function scalerState(o: { scale: number; tracker: number; applied: number; beta1: number; beta2: number }): Float32Array {
  const s = new Float32Array(SCALER_LENGTH);
  s[SCALER.scale] = o.scale;
  s[SCALER.invScale] = 1 / o.scale;
  s[SCALER.tracker] = o.tracker;
  s[SCALER.applied] = o.applied;
  s[SCALER.powBeta1] = powF32(o.beta1, o.applied);
  s[SCALER.powBeta2] = powF32(o.beta2, o.applied);
  return s;
}

/** β^t as amp_update computes it: t products rounded to f32, underflow flushed to 0. */
export function powF32(beta: number, t: number): number {
  const b = Math.fround(beta);
  let p = 1;
  for (let i = 0; i < t && p !== 0; i++) {
    p = Math.fround(p * b);
    if (Math.abs(p) < 2 ** -126) p = 0;
  }
  return p;
}
