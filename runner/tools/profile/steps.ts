// The steps `earlyphase profile` times: the training step of `earlyphase bench` (buildOurStep: batch
// gather + augmentation → forward in training mode → softmax cross-entropy → backward → masked SGD)
// for any zoo model and batch, and the evaluation step of the trainer's Evaluator (batch gather →
// eval-mode forward of an evaluation-only instance → cross-entropy accumulation). Data are
// synthetic bytes of the real dataset's size, parameters a seeded initialisation under a random
// mask of the given density (as the benchmark).
import { randomFillSync } from 'node:crypto';
import type { Gpu } from '../../../src/gpu/gpu.ts';
import type { Dispatch } from '../../../src/gpu/dispatch.ts';
import { createTensor, upload } from '../../../src/gpu/tensor.ts';
import { Program } from '../../../src/gpu/program.ts';
import { compileModel } from '../../../src/nn/compile.ts';
import { createModelState } from '../../../src/nn/model-state.ts';
import { collectBuffers } from '../../../src/gpu/ownership.ts';
import { getModel } from '../../../src/nn/zoo.ts';
import { initParameters, initRunningStats } from '../../../src/nn/init.ts';
import { batchGather, packImageShards } from '../../../src/kernels/batch.ts';
import { crossEntropyEval } from '../../../src/kernels/loss.ts';
import { normalizationFor } from '../../../src/train/device-data.ts';
import { UserError } from '../../../src/errors.ts';
import { buildOurStep, randomMask, TRAINING_CASES, type TrainingCase } from '../training-cases.ts';
import type { TfModelName } from '../bench/tfjs-models.ts';

/** A step to profile: its Program (one submit per step) and its dispatches in order. */
export interface ProfiledStep {
  program: Program;
  dispatches: readonly Dispatch[];
  /** Picks the batch (and augmentation draws) of step `i`; takes effect from the next submit. */
  setStep(i: number): void;
  destroy(): void;
}

/** Training/test set sizes of the datasets whose image shape a model can take. */
const DATASETS: { name: string; shape: readonly number[]; train: number; test: number }[] = [
  { name: 'fashion_mnist', shape: [1, 28, 28], train: 60000, test: 10000 },
  { name: 'cifar10', shape: [3, 32, 32], train: 50000, test: 10000 },
];

export function datasetFor(model: string): (typeof DATASETS)[number] {
  const input = getModel(model).input;
  const d = DATASETS.find((x) => x.shape.every((v, i) => v === input[i]));
  if (!d) throw new UserError(`profile: model ${model} takes ${input.join('x')} images; only 1x28x28 (fashion_mnist) and 3x32x32 (cifar10) are profiled`);
  return d;
}

/**
 * The benchmark's case for `model` (LeNet-300-100, ResNet-20), else one like them: SGD with
 * momentum 0.9 and weight decay 1e-4, crop/flip augmentation on CIFAR-10-shaped input.
 */
export function trainingCaseFor(model: string): TrainingCase {
  const known = TRAINING_CASES.find((c) => c.model === model);
  if (known) return known;
  const d = datasetFor(model);
  // buildOurStep only passes the name to getModel; TfModelName matters to the TF.js peers alone.
  return { model: model as TfModelName, dataset: d.name, examples: d.train, lr: 0.1, momentum: 0.9, weightDecay: 1e-4, augment: d.name === 'cifar10', heavy: false };
}

export function buildTrainStep(gpu: Gpu, model: string, batch: number, density: number, members = 1): ProfiledStep {
  const s = buildOurStep(gpu, trainingCaseFor(model), density, batch, members);
  return { program: s.program, dispatches: s.dispatches, setStep: (i) => s.setStep(i), destroy: () => s.destroy() };
}

/**
 * One batch of test-set evaluation as the trainer's Evaluator runs it. Every buffer made while it
 * is built (kernel uniforms included) is collected and freed by destroy(), on error too.
 */
export function buildEvalStep(gpu: Gpu, model: string, batch: number, density: number): ProfiledStep {
  const { value, buffers } = collectBuffers(gpu.device, () => evalStep(gpu, model, batch, density));
  return { ...value, destroy() { value.program.destroy(); for (const b of buffers) b.destroy(); } };
}

function evalStep(gpu: Gpu, model: string, batch: number, density: number): Omit<ProfiledStep, 'destroy'> {
  const spec = getModel(model);
  const d = datasetFor(model);
  const [C, H, W] = spec.input;
  const st = createModelState(gpu, spec);
  const params = initParameters(spec, st.params, 1, 'uniform');
  const mask = randomMask(spec, st.params.layout(), st.params.elements, density);
  for (let i = 0; i < params.length; i++) params[i]! *= mask[i]!;
  upload(gpu, st.params.all(), params);
  if (st.stats.names.length) upload(gpu, st.stats.all(), initRunningStats(st.stats));
  const examples = Math.max(d.test, batch);
  const chw = C * H * W;
  const bytes = randomFillSync(new Uint8Array(examples * chw));
  const shards = packImageShards(bytes, chw, gpu.device.limits.maxStorageBufferBindingSize).map((s, i) => ({
    tensor: createTensor(gpu, `profile.images${i}`, [s.words.length], s.words), examples: s.examples,
  }));
  const labels = createTensor(gpu, 'profile.labels', [examples], Uint32Array.from(bytes.subarray(0, examples), (b) => b % spec.classes));
  const batches = Math.floor(examples / batch);
  const order = createTensor(gpu, 'profile.order', [examples], Uint32Array.from({ length: examples }, (_, i) => i));
  const batchLabels = createTensor(gpu, 'profile.batch_labels', [batch]);
  const stats = createTensor(gpu, 'profile.eval_stats', [2]);
  const m = compileModel(gpu, st, batch, { backward: false });
  const gather = batchGather(gpu, { images: shards, labels, count: examples, channels: C, height: H, width: W }, order,
    { x: m.input, labels: batchLabels }, { batch, ...normalizationFor(d.name, C), augment: false, rotation: false, blurFactor: 1, seed: 11 });
  const loss = crossEntropyEval(gpu, m.logits, batchLabels, spec.classes, { stats, slot: 0, accumulate: true });
  const dispatches = [gather.dispatch, ...m.forwardEval, loss];
  const program = new Program(gpu, 'profile-eval-step', [dispatches]);
  return { program, dispatches, setStep: (i) => gather.setStep((i % batches) * batch, 0) };
}
