// The optimiser of one training run, chosen by --optimizer-name: masked SGD (its momentum in the
// model's momenta arena) or masked Adam (first moment in the momenta arena, second moment in a
// buffer of the same layout). OpenLTH builds a fresh optimiser for every training run — each
// lottery level and branch — so its state starts at zero and Adam's step count at 0 when a run
// starts (also when it starts at the rewind iteration k); a resumed run restores both from its
// checkpoint, so it continues bitwise-identically.
import type { Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { createTensor, download, upload } from '../gpu/tensor.ts';
import type { ModelState } from '../nn/model-state.ts';
import { sgdMasked } from '../kernels/sgd.ts';
import { ADAM_DEFAULTS, adamMasked, adamMaskedAmp } from '../kernels/adam.ts';
import type { Hparams } from './hparams.ts';
import type { LossScaler } from './amp.ts';

/** Optimiser state in arena layout: one flat array per buffer (checkpointed as `<buffer>/<param>`). */
export interface OptimizerState {
  buffers: Record<string, Float32Array>;
  /** Steps taken since the run started: Adam's t before the next step. */
  steps: number;
}

/** What a checkpoint of this optimiser holds. */
export interface OptimizerLayout {
  /** Buffer names, as PyTorch's optimiser state names them. */
  buffers: readonly string[];
  /** Whether the step count matters (Adam's bias correction) and must be in the checkpoint. */
  countsSteps: boolean;
}

export function optimizerLayout(name: Hparams['training']['optimizer_name']): OptimizerLayout {
  return name === 'adam' ? { buffers: ['exp_avg', 'exp_avg_sq'], countsSteps: true } : { buffers: ['momentum'], countsSteps: false };
}

export interface RunOptimizer {
  dispatch: Dispatch;
  /** Call once before submitting each step, with that step's learning rate. */
  beforeStep(lr: number): void;
  load(s: OptimizerState): void;
  /** Call after the submitted steps have been flushed. */
  save(): Promise<OptimizerState>;
}

export function freshOptimizerState(layout: OptimizerLayout, elements: number): OptimizerState {
  return { buffers: Object.fromEntries(layout.buffers.map((b) => [b, new Float32Array(elements)])), steps: 0 };
}

/**
 * Its buffers (Adam's second moment, the kernel's uniform) belong to whoever builds it: a TrainPack
 * collects them. With a loss scaler (mixed precision) a step whose gradients hold an inf or NaN is
 * skipped on the GPU, so the steps applied — Adam's t, and the count a checkpoint records — are
 * counted there (the scaler's state); loading the count is the scaler's load.
 */
export function createOptimizer(gpu: Gpu, st: ModelState, t: Hparams['training'], scaler?: LossScaler): RunOptimizer {
  const [weights, grads, mask] = [st.params.all(), st.grads.all(), st.masks.all()];
  let steps = 0;
  if (scaler) return ampOptimizer(gpu, st, t, scaler);
  if (t.optimizer_name === 'adam') {
    const expAvg = st.momenta.all();
    const expAvgSq = createTensor(gpu, 'adam_exp_avg_sq', [st.params.elements]);
    const adam = adamMasked(gpu, { weights, grads, expAvg, expAvgSq, mask }, { ...ADAM_DEFAULTS, weightDecay: t.weight_decay });
    return {
      dispatch: adam.dispatch,
      beforeStep(lr) { adam.setStep(lr, ++steps); },
      load(s) { upload(gpu, expAvg, s.buffers.exp_avg!); upload(gpu, expAvgSq, s.buffers.exp_avg_sq!); steps = s.steps; },
      async save() { return { buffers: { exp_avg: await download(gpu, expAvg), exp_avg_sq: await download(gpu, expAvgSq) }, steps }; },
    };
  }
  const momenta = st.momenta.all();
  const sgd = sgdMasked(gpu, { weights, grads, momenta, mask },
    { lr: t.lr, momentum: t.momentum, weightDecay: t.weight_decay, nesterov: t.nesterov_momentum > 0 });
  return {
    dispatch: sgd.dispatch,
    beforeStep(lr) { sgd.setLearningRate(lr); steps++; },
    load(s) { upload(gpu, momenta, s.buffers.momentum!); steps = s.steps; },
    async save() { return { buffers: { momentum: await download(gpu, momenta) }, steps }; },
  };
}

function ampOptimizer(gpu: Gpu, st: ModelState, t: Hparams['training'], scaler: LossScaler): RunOptimizer {
  const [weights, grads, mask, momenta] = [st.params.all(), st.grads.all(), st.masks.all(), st.momenta.all()];
  const applied = async () => (await scaler.save()).applied;
  if (t.optimizer_name === 'adam') {
    const expAvgSq = createTensor(gpu, 'adam_exp_avg_sq', [st.params.elements]);
    const adam = adamMaskedAmp(gpu, { weights, grads, expAvg: momenta, expAvgSq, mask }, { ...ADAM_DEFAULTS, weightDecay: t.weight_decay }, scaler.state);
    return {
      dispatch: adam.dispatch,
      beforeStep(lr) { adam.setLearningRate(lr); },
      load(s) { upload(gpu, momenta, s.buffers.exp_avg!); upload(gpu, expAvgSq, s.buffers.exp_avg_sq!); },
      async save() { return { buffers: { exp_avg: await download(gpu, momenta), exp_avg_sq: await download(gpu, expAvgSq) }, steps: await applied() }; },
    };
  }
  const sgd = sgdMasked(gpu, { weights, grads, momenta, mask },
    { lr: t.lr, momentum: t.momentum, weightDecay: t.weight_decay, nesterov: t.nesterov_momentum > 0 }, scaler.state);
  return {
    dispatch: sgd.dispatch,
    beforeStep(lr) { sgd.setLearningRate(lr); },
    load(s) { upload(gpu, momenta, s.buffers.momentum!); },
    async save() { return { buffers: { momentum: await download(gpu, momenta) }, steps: await applied() }; },
  };
}
