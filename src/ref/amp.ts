// float64 references of the mixed-precision passes (shaders/amp.wgsl), written from PyTorch's
// GradScaler: unscale_ (multiply by 1/S, found_inf if any result is inf or NaN), update()
// (found_inf → S·backoff and the tracker to 0; else the tracker counts the step and S·growth when
// it reaches the interval), and optimizer.step() skipped on found_inf. Autocast's f16 outputs are
// roundHalf (src/ref/f16.ts).
import { roundHalf } from './f16.ts';

export interface ScalerRef {
  scale: number;
  tracker: number;
  /** Optimiser steps applied (Adam's t). */
  applied: number;
}

/**
 * The optimiser's gradients: those marked in `half` (the f16 weight copy's) rounded to f16 first,
 * then all multiplied by 1/S; foundInf when any result is not finite.
 */
export function unscale(grads: ArrayLike<number>, half: ArrayLike<number>, scale: number): { grads: Float64Array; foundInf: boolean } {
  const inv = 1 / scale;
  const out = Float64Array.from(grads as ArrayLike<number>, (g, i) => (half[i] ? roundHalf(g) : g) * inv);
  return { grads: out, foundInf: out.some((v) => !Number.isFinite(v)) };
}

/** GradScaler.update() after a step that found (or did not find) an inf/NaN. */
export function updateScaler(s: ScalerRef, foundInf: boolean, growthInterval: number, growth = 2, backoff = 0.5): ScalerRef {
  if (foundInf) return { scale: s.scale * backoff, tracker: 0, applied: s.applied };
  const tracker = s.tracker + 1;
  return tracker >= growthInterval
    ? { scale: s.scale * growth, tracker: 0, applied: s.applied + 1 }
    : { scale: s.scale, tracker, applied: s.applied + 1 };
}

/** The gradient of the scaled loss w.r.t. f16 logits: f16(S · dL/dlogits). */
export function scaleGrad(dlogits: ArrayLike<number>, scale: number): Float64Array {
  return Float64Array.from(dlogits as ArrayLike<number>, (g) => roundHalf(g * scale));
}
