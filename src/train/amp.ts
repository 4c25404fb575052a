// Mixed precision (--apex-fp16), the training step's side: PyTorch AMP's loop
//   with autocast(): loss = model(x)          (compileModel with amp: f16 where autocast rounds)
//   scaler.scale(loss).backward()             (scaleGrad: dL/dlogits · S, to f16; the backward)
//   scaler.step(optimizer)                    (unscale: grads / S, inf/NaN check; the optimiser skips on found inf)
//   scaler.update()                           (update: S ×0.5 on inf, ×2 after 2,000 clean steps)
// as GPU dispatches around the compiled model, with the scaler's state in a small GPU buffer: no
// readback per step. Each step's metrics snapshot carries whether it was skipped and the scale it
// used. Master weights, masks, optimiser state and batch-norm statistics stay f32, and so do
// checkpoints and weights files; a checkpoint adds the scaler's state to its metadata.
import type { Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { createTensor, download, upload, type Tensor } from '../gpu/tensor.ts';
import { ampScaleGrad, ampUnscale, ampUpdate, GRAD_SCALER_DEFAULTS, SCALER, SCALER_LENGTH, scalerState, unscalePartialsLength } from '../kernels/amp.ts';
import { ADAM_DEFAULTS } from '../kernels/adam.ts';
import { autocastParameters } from '../nn/graph.ts';
import type { ModelState } from '../nn/model-state.ts';
import type { Hparams } from './hparams.ts';

/** What a checkpoint keeps of the loss scaler (GradScaler's state_dict: scale, _growth_tracker). */
export interface ScalerCheckpoint {
  scale: number;
  growthTracker: number;
}

export const FRESH_SCALER: ScalerCheckpoint = { scale: GRAD_SCALER_DEFAULTS.initScale, growthTracker: 0 };

/** Values per network in a mixed-precision step's metrics: loss, correct, skipped (0/1), the scale it used. */
export const AMP_STATS = 4;

/** A step's mixed-precision outcome, delivered with its metrics. */
export interface AmpStepStats { skipped: boolean; scale: number }

/** The f32 0/1 flags (arena layout) of the gradients autocast computes in f16: those of conv and linear parameters. */
export function halfGradFlags(st: ModelState): Float32Array {
  const half = autocastParameters(st.spec.layers);
  const flags = new Float32Array(st.params.elements);
  for (const { name, offset, shape } of st.params.layout()) {
    if (half.has(name)) flags.fill(1, offset, offset + shape.reduce((a, b) => a * b, 1));
  }
  return flags;
}

/** The loss scaler of one network and the dispatches of its step. Its buffers belong to whoever builds it (a TrainPack collects them). */
export class LossScaler {
  /** The scaler's state (layout: src/kernels/amp.ts SCALER). */
  readonly state: Tensor;
  /** After backward: unscale the gradients, flag inf/NaN per workgroup. */
  readonly unscale: Dispatch;
  /** Then: found inf, the step's stats, GradScaler.update(), t and β^t. The optimiser runs after it. */
  readonly update: Dispatch;
  private readonly betas: { beta1: number; beta2: number };

  /** `stats`: where the step's metrics are (the loss's slot; this writes the next two values). */
  constructor(private readonly gpu: Gpu, st: ModelState, optimizer: Hparams['training']['optimizer_name'], stats: { tensor: Tensor; slot: number },
    growthInterval: number = GRAD_SCALER_DEFAULTS.growthInterval) {
    this.betas = optimizer === 'adam' ? { beta1: ADAM_DEFAULTS.beta1, beta2: ADAM_DEFAULTS.beta2 } : { beta1: 0, beta2: 0 };
    this.state = createTensor(gpu, 'amp_scaler', [SCALER_LENGTH], scalerState({ scale: FRESH_SCALER.scale, tracker: 0, applied: 0, ...this.betas }));
    const grads = st.grads.all();
    const half = createTensor(gpu, 'amp_half_grads', [grads.length], halfGradFlags(st));
    const groups = unscalePartialsLength(grads.length);
    const partials = createTensor(gpu, 'amp_inf_flags', [groups]);
    this.unscale = ampUnscale(gpu, grads, half, this.state, partials);
    this.update = ampUpdate(gpu, partials, this.state, stats.tensor, { groups, growthInterval, slot: stats.slot, ...this.betas });
  }

  /** After the loss: dlogits = f16(S · dlogits) (one per compiled instance: the short last batch has its own dlogits). */
  scaleGrad(dlogits: Tensor): Dispatch {
    return ampScaleGrad(this.gpu, dlogits, this.state);
  }

  /** Puts a run's scaler on the GPU; `applied` is the optimiser's step count (Adam's t). */
  load(s: ScalerCheckpoint, applied: number): void {
    upload(this.gpu, this.state, scalerState({ scale: s.scale, tracker: s.growthTracker, applied, ...this.betas }));
  }

  /** The scaler's state and the optimiser steps applied; call after flush(). */
  async save(): Promise<ScalerCheckpoint & { applied: number }> {
    const s = await download(this.gpu, this.state);
    return { scale: s[SCALER.scale]!, growthTracker: s[SCALER.tracker]!, applied: s[SCALER.applied]! };
  }
}
