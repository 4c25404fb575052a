// One training step of one run, as one object: the model's state arenas, the dataset on the GPU,
// the compiled model, the batch feeder (gather + augment), softmax cross-entropy, the masked
// optimiser (SGD or Adam), the learning-rate schedule and the Program that submits them as one
// command buffer. It is a pack of one (src/train/train-pack.ts, where "what one step is" is
// written once) with the member's parts at hand, for the training benchmark, profiler and tests.
// It owns every GPU buffer made while it was built (kernel uniforms included, collected at
// creation) plus what `own` adopts, and destroy() frees them all, on success and error paths alike.
import type { Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Program, ExtraWork } from '../gpu/program.ts';
import type { CompiledModel } from '../nn/compile.ts';
import type { ModelState } from '../nn/model-state.ts';
import type { ModelSpec } from '../nn/graph.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import type { Hparams } from './hparams.ts';
import type { CheckpointState, HostState } from './checkpoint.ts';
import type { DeviceDataset } from './device-data.ts';
import { TrainPack, type BufferPhase, type PackMember } from './train-pack.ts';

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

export { stateLayout } from '../nn/model-state.ts';

export class TrainStep {
  readonly pack: TrainPack;

  constructor(gpu: Gpu, o: TrainStepOptions) {
    this.pack = new TrainPack(gpu, {
      data: o.data, spec: o.spec, ring: o.ring, phase: o.phase,
      members: [{ hparams: o.hparams, replicate: o.replicate, onMetrics: o.onMetrics }],
    });
  }

  private get member(): PackMember { return this.pack.members[0]!; }
  get spec(): ModelSpec { return this.pack.spec; }
  get state(): ModelState { return this.member.state; }
  get data(): DeviceDataset { return this.member.data; }
  get model(): CompiledModel { return this.member.model; }
  get program(): Program { return this.pack.program; }
  get batch(): number { return this.pack.batch; }
  get perEpoch(): number { return this.pack.perEpoch; }
  /** The step's dispatches in submission order (for profilers). */
  get dispatches(): readonly Dispatch[] { return this.member.list; }

  learningRate(iteration: number): number { return this.member.learningRate(iteration); }
  load(s: CheckpointState, mask: Float32Array): void { this.member.load(s, mask); }
  weights(): Promise<HostState> { return this.member.weights(); }
  save(): Promise<CheckpointState> { return this.member.save(); }
  setEpoch(epoch: number): void { this.member.setEpoch(epoch); }
  /** See PackMember.prepare: for callers that submit `program` themselves. */
  prepare(iteration: number): void { this.member.prepare(iteration); }
  /** Submits training iteration `iteration` (with `extra` work, e.g. telemetry); does not wait for it. */
  step(iteration: number, extra: ExtraWork | null = null): Promise<void> { return this.pack.step(iteration, extra ? [extra] : []); }
  /** Waits for every submitted step and delivers their metrics. */
  flush(): Promise<void> { return this.pack.flush(); }
  addChannel(tensor: Tensor, onSnapshot: (iteration: number, values: Float32Array) => void): number { return this.pack.addChannel(tensor, onSnapshot); }
  own<T>(build: () => T): T { return this.pack.own(build); }
  destroy(): void { this.pack.destroy(); }
}
