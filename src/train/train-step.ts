// One training step of a run, as one object: the model's state arenas, the dataset on the GPU,
// the compiled model, the batch feeder (gather + augment), softmax cross-entropy, the masked
// optimiser (SGD or Adam), the learning-rate schedule and the Program that submits them as one
// command buffer. The trainer, the training benchmark and the tests build a step only through
// here, so "what one step is" is written once. It owns every GPU buffer made while it was built
// (kernel uniforms included, collected at creation) plus what `own` adopts, and destroy() frees
// them all, on success and error paths alike.
import type { Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { Arena, createTensor, download, upload, type Tensor } from '../gpu/tensor.ts';
import { Program, type ExtraWork } from '../gpu/program.ts';
import { collectBuffers } from '../gpu/ownership.ts';
import { UserError } from '../errors.ts';
import { compileModel, createModelState, type CompiledModel, type ModelState } from '../nn/compile.ts';
import { buffers, parameters, type ModelSpec } from '../nn/graph.ts';
import { modelForData } from '../nn/zoo.ts';
import { softmaxCrossEntropy } from '../kernels/loss.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import type { Hparams } from './hparams.ts';
import type { CheckpointState, HostState } from './checkpoint.ts';
import { createOptimizer, type RunOptimizer } from './optimizer.ts';
import { BatchFeeder, DeviceDataset, taskClasses } from './device-data.ts';
import { learningRate, type Schedule } from './schedule.ts';
import { stepToIterations } from './steps.ts';

/** Which group of buffers is being created (the training bench accounts GPU memory by group). */
export type BufferPhase = 'arenas' | 'dataset' | 'activations' | 'metrics';

export interface TrainStepOptions {
  hparams: Hparams;
  data: DatasetSplits;
  /** Seeds the data order and augmentation when the hparams leave them unset. */
  replicate: number;
  /** Default: the hparams' model for the data's image shape and the task's classes. */
  spec?: ModelSpec;
  /** Each step's mean loss and correct count, delivered when the GPU is done (at most `ring` steps late). */
  onMetrics?: (iteration: number, loss: number, correct: number) => void;
  /** Steps in flight: step t waits for the snapshot of step t − ring before it is encoded. Default 2. */
  ring?: number;
  /** Called before each group of buffers is created. */
  phase?: (p: BufferPhase) => void;
}

/** The model's weight and statistics layouts without GPU buffers: for reading run files before any GPU work. */
export function stateLayout(spec: ModelSpec): { params: Arena; stats: Arena } {
  // Same order as createModelState (src/nn/compile.ts); test/kernels/train-step.test.ts checks it.
  const params = new Arena('params'), stats = new Arena('bn_stats');
  for (const p of parameters(spec.layers)) params.add(p.name, p.shape);
  for (const b of buffers(spec.layers)) stats.add(b.name, b.shape);
  return { params, stats };
}

export class TrainStep {
  readonly spec: ModelSpec;
  readonly state: ModelState;
  readonly data: DeviceDataset;
  readonly model: CompiledModel;
  readonly program: Program;
  readonly batch: number;
  /** Iterations per epoch: the training set (after subsampling) in whole batches, the last one padded. */
  readonly perEpoch: number;
  private readonly feeder: BatchFeeder;
  private readonly optimizer: RunOptimizer;
  private readonly schedule: Schedule;
  private readonly list: readonly Dispatch[];
  private readonly ring: number;
  private readonly owned: GPUBuffer[];
  /** Epoch whose data order is on the GPU (-1: none yet). */
  private epoch = -1;
  /** Iteration of the Program's step 0: snapshots count Program steps, runs may start at k or resume. */
  private firstIteration = 0;

  constructor(private readonly gpu: Gpu, o: TrainStepOptions) {
    const h = o.hparams, phase = o.phase ?? (() => {});
    this.ring = o.ring ?? 2;
    const onSnapshot = (p: number, v: Float32Array) => o.onMetrics?.(this.firstIteration + p, v[0]!, v[1]!);
    const { value, buffers: made } = collectBuffers(gpu.device, () => {
      phase('arenas');
      const spec = o.spec ?? modelForData(h.model.model_name, o.data.train, taskClasses(h, o.data.train.classes));
      const state = createModelState(gpu, spec);
      phase('dataset');
      const data = new DeviceDataset(gpu, o.data, h, o.replicate);
      phase('activations');
      const model = compileModel(gpu, state, h.dataset.batch_size);
      phase('dataset'); // the epoch order and the batch labels
      const feeder = new BatchFeeder(gpu, data, model, h, o.replicate);
      phase('metrics');
      const stats = createTensor(gpu, 'train_stats', [2]);
      const loss = softmaxCrossEntropy(gpu, model.logits, feeder.labels, data.classes, model.dlogits, { stats, slot: 0 });
      const optimizer = createOptimizer(gpu, state, h.training);
      const list = [feeder.dispatch, ...model.forwardTrain, loss, ...model.backward, optimizer.dispatch];
      const program = new Program(gpu, 'train-step', [list], { tensor: stats, ringSize: this.ring, onSnapshot });
      return { spec, state, data, model, feeder, optimizer, list, program };
    });
    ({ spec: this.spec, state: this.state, data: this.data, model: this.model, feeder: this.feeder,
      optimizer: this.optimizer, list: this.list, program: this.program } = value);
    this.owned = made;
    this.batch = this.model.batch;
    this.perEpoch = Math.ceil(this.data.trainCount / this.batch);
    const t = h.training, steps = (s: string, what: string) => stepToIterations(s, this.perEpoch, what);
    this.schedule = {
      lr: t.lr, gamma: t.gamma ?? 1, warmup: t.warmup_steps ? steps(t.warmup_steps, 'warmup_steps') : 0,
      milestones: (t.milestone_steps ?? []).map((m) => steps(m, 'milestone_steps')),
    };
  }

  /** The step's dispatches in submission order (for profilers). */
  get dispatches(): readonly Dispatch[] { return this.list; }

  learningRate(iteration: number): number { return learningRate(this.schedule, iteration); }

  /**
   * Puts a run's state on the GPU: weights, batch-norm statistics, optimiser state and mask.
   * Pruned weights are zeroed in `s.params` itself, so the caller's copy is what trains.
   */
  load(s: CheckpointState, mask: Float32Array): void {
    if (mask.length !== s.params.length) throw new UserError(`mask has ${mask.length} elements, the model's parameters ${s.params.length}`);
    for (let i = 0; i < s.params.length; i++) if (mask[i] === 0) s.params[i] = 0;
    upload(this.gpu, this.state.params.all(), s.params);
    this.optimizer.load(s.optimizer);
    upload(this.gpu, this.state.masks.all(), mask);
    if (this.state.stats.names.length) upload(this.gpu, this.state.stats.all(), s.stats);
  }

  /** Weights and batch-norm statistics; call after flush(). */
  async weights(): Promise<HostState> {
    const params = await download(this.gpu, this.state.params.all());
    const stats = this.state.stats.names.length ? await download(this.gpu, this.state.stats.all()) : new Float32Array(0);
    return { params, stats };
  }

  /** Everything a checkpoint holds; call after flush(). */
  async save(): Promise<CheckpointState> {
    return { ...(await this.weights()), optimizer: await this.optimizer.save() };
  }

  /** Uploads the epoch's data order (step() does this itself when an epoch begins). */
  setEpoch(epoch: number): void {
    this.feeder.setEpoch(epoch);
    this.epoch = epoch;
  }

  /**
   * Writes the uniforms of `iteration` (learning rate, Adam's step count, batch slice,
   * augmentation draws) for the next submit. For callers that submit `program` themselves;
   * step() calls it. Call once per submitted step: Adam counts the calls.
   */
  prepare(iteration: number): void {
    const epoch = Math.floor(iteration / this.perEpoch);
    if (epoch !== this.epoch) this.setEpoch(epoch);
    this.optimizer.beforeStep(this.learningRate(iteration));
    this.feeder.setStep(iteration, iteration - epoch * this.perEpoch);
  }

  /** Submits training iteration `iteration` (with `extra` work, e.g. telemetry); does not wait for it. */
  async step(iteration: number, extra: ExtraWork | null = null): Promise<void> {
    if (this.program.counters.steps === 0) this.firstIteration = iteration;
    this.prepare(iteration);
    await this.program.step(true, extra);
  }

  /** Waits for every submitted step and delivers their metrics. */
  flush(): Promise<void> { return this.program.flush(); }

  /** A further output snapshotted on steps that carry ExtraWork naming it; the handler gets the iteration. */
  addChannel(tensor: Tensor, onSnapshot: (iteration: number, values: Float32Array) => void): number {
    return this.program.addChannel(tensor, (p, v) => onSnapshot(this.firstIteration + p, v), this.ring);
  }

  /**
   * Builds something that works on this step's model and data (the evaluator, telemetry) and
   * takes ownership of the buffers it creates, so destroy() frees them too.
   */
  own<T>(build: () => T): T {
    const { value, buffers: made } = collectBuffers(this.gpu.device, build);
    this.owned.push(...made);
    return value;
  }

  /** Frees every buffer this step made or adopted; safe to call twice. */
  destroy(): void {
    this.program.destroy(); // its channels' staging rings, also those added after construction
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
