// A pack: K networks of one architecture trained in lockstep, every step of all of them encoded
// into ONE command buffer and submitted ONCE. Each member has its own weights, gradients, momenta
// or Adam moments, mask, batch-norm statistics, activations, batch feeder (its own data order and
// augmentation draws), loss, optimiser and learning-rate schedule. Members are built in a
// SlabScope (src/gpu/slabs.ts), so member k's copy of every buffer is slice k of one shared slab:
// parameters are [K, arena], activations [K, B, …]. That lets each op of the step run as ONE
// dispatch for all K, the member index an outer grid dimension (src/gpu/fuse.ts,
// src/gpu/memberize.ts). Every member still runs exactly the arithmetic it runs alone, in the same
// order (only addresses change), so its weights are bitwise identical to training it alone
// (test/kernels/train-pack.test.ts proves it). An op that cannot be fused runs once per member.
// Members whose host transformations of the training set agree share one upload of the dataset.
//
// The last batch of an epoch holds the remainder of the training set (OpenLTH's DataLoader) unless
// pad_last_batch is set: that step runs a second dispatch list (a Program variant), compiled for
// the short batch over the leading part of the full batch's buffers.
//
// Members may differ in seeds, initial weights, masks, learning-rate schedules and optimiser
// constants; they must agree on what shapes the step (packKey): the model, the batch size, the
// optimiser kind, the training set's size, whether the last batch is padded and the precision
// (--apex-fp16: src/train/amp.ts, a loss scaler per member). A member can stop alone (it diverged): its metrics
// are no longer delivered and its uniforms no longer advance; its slices keep being computed
// (a fused dispatch covers every member) but nothing reads them.
import type { Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { createTensor, download, upload, type Tensor } from '../gpu/tensor.ts';
import { Program, type ExtraWork } from '../gpu/program.ts';
import { collectBuffers } from '../gpu/ownership.ts';
import { SlabScope } from '../gpu/slabs.ts';
import { fuseMembers, type FusedList } from '../gpu/fuse.ts';
import { UserError } from '../errors.ts';
import { canonicalJSON } from '../io/digest.ts';
import { compileModel, type CompiledModel } from '../nn/compile.ts';
import { createModelState, type ModelState } from '../nn/model-state.ts';
import type { ModelSpec } from '../nn/graph.ts';
import { modelForData } from '../nn/zoo.ts';
import { softmaxCrossEntropy } from '../kernels/loss.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import type { Hparams } from './hparams.ts';
import type { CheckpointState, HostState } from './checkpoint.ts';
import { createOptimizer, type RunOptimizer } from './optimizer.ts';
import { AMP_STATS, FRESH_SCALER, LossScaler, type AmpStepStats } from './amp.ts';
import { BatchFeeder, DeviceDataset, lastBatchSize, taskClasses, trainExamples } from './device-data.ts';
import { learningRate, type Schedule } from './schedule.ts';
import { stepToIterations } from './steps.ts';

/** Which group of buffers is being created (the training bench accounts GPU memory by group). */
export type BufferPhase = 'arenas' | 'dataset' | 'activations' | 'metrics';

export interface PackMemberOptions {
  hparams: Hparams;
  /** Seeds the data order and augmentation when the hparams leave them unset. */
  replicate: number;
  /**
   * Each step's mean loss and correct count, delivered when the GPU is done (at most `ring` steps
   * late); under mixed precision also whether the step was skipped and the loss scale it used.
   */
  onMetrics?: (iteration: number, loss: number, correct: number, amp?: AmpStepStats) => void;
}

export interface TrainPackOptions {
  data: DatasetSplits;
  members: readonly PackMemberOptions[];
  /** Default: the hparams' model for the data's image shape and the task's classes. */
  spec?: ModelSpec;
  /** Steps in flight: step t waits for the snapshot of step t − ring before it is encoded. Default 2. */
  ring?: number;
  /** Called before each group of buffers is created. */
  phase?: (p: BufferPhase) => void;
  /** Bytes of dataset copies the pack may make so that members that could share an upload gather in one dispatch (default 256 MiB; 0: never). */
  datasetCopyBytes?: number;
}

/**
 * What must agree for runs to share a pack: everything that shapes the step's buffers and
 * dispatch lists. Seeds, learning rates, momentum, weight decay, masks and weights may differ.
 */
export function packKey(h: Hparams): string {
  return canonicalJSON({
    model: h.model.model_name, batch: h.dataset.batch_size, optimizer: h.training.optimizer_name,
    subsample: h.dataset.subsample_fraction ?? null, labels: h.dataset.unsupervised_labels ?? null,
    pad: h.dataset.pad_last_batch, ...(h.training.apex_fp16 ? { amp: true } : {}),
  });
}

/** The host transformations of the training set a DeviceDataset uploads: equal keys, equal bytes on the GPU. */
function uploadKey(h: Hparams, replicate: number): string {
  const d = h.dataset;
  if (d.subsample_fraction === undefined && d.random_labels_fraction === undefined) return 'as-is';
  return canonicalJSON({ s: d.subsample_fraction ?? null, r: d.random_labels_fraction ?? null, seed: DeviceDataset.transformSeedOf(h, replicate) });
}

/** Default bytes of copies of the dataset a pack may make so that its batch gather fuses (see TrainPack). */
const COPY_BUDGET = 256 * 2 ** 20;

/** Bytes one DeviceDataset uploads: its training examples and the test set, images and labels. */
function uploadBytes(d: DatasetSplits, h: Hparams): number {
  const chw = d.train.channels * d.train.height * d.train.width;
  return (trainExamples(h, d.train.count) + d.test.count) * (chw + 4);
}

/** One network of a pack. */
export class PackMember {
  /** Epoch whose data order is on the GPU (-1: none yet). */
  private epoch = -1;
  /** The Program step from which this member's results are ignored (null: it still trains). */
  stoppedAt: number | null = null;

  constructor(
    private readonly gpu: Gpu,
    readonly index: number,
    readonly state: ModelState,
    readonly data: DeviceDataset,
    readonly model: CompiledModel,
    private readonly feeder: BatchFeeder,
    private readonly optimizer: RunOptimizer,
    /** Its dispatches in submission order: gather, forward, loss, backward, optimiser. */
    readonly list: readonly Dispatch[],
    /** The same for the epoch's short last batch; null when every batch is full. */
    readonly shortList: readonly Dispatch[] | null,
    private readonly schedule: Schedule,
    readonly perEpoch: number,
    /** Examples in the last batch of each epoch (= the batch size when full or padded). */
    readonly lastBatch: number,
    /** Mixed precision: the member's loss scaler (null: f32 training). */
    readonly scaler: LossScaler | null = null,
  ) {}

  /** Examples that training iteration `iteration` learns from: the batch, or the remainder at an epoch's end. */
  batchAt(iteration: number): number {
    return iteration % this.perEpoch === this.perEpoch - 1 ? this.lastBatch : this.model.batch;
  }

  get active(): boolean { return this.stoppedAt === null; }

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
    this.scaler?.load(s.amp ?? FRESH_SCALER, s.optimizer.steps);
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
    const amp = this.scaler && await this.scaler.save();
    return { ...(await this.weights()), optimizer: await this.optimizer.save(), ...(amp ? { amp: { scale: amp.scale, growthTracker: amp.growthTracker } } : {}) };
  }

  /** Uploads the epoch's data order (prepare() does this itself when an epoch begins). */
  setEpoch(epoch: number): void {
    this.feeder.setEpoch(epoch);
    this.epoch = epoch;
  }

  /**
   * Writes the uniforms of `iteration` (learning rate, Adam's step count, batch slice,
   * augmentation draws) for the next submit. Call once per submitted step: Adam counts the calls.
   */
  prepare(iteration: number): void {
    const epoch = Math.floor(iteration / this.perEpoch);
    if (epoch !== this.epoch) this.setEpoch(epoch);
    this.optimizer.beforeStep(this.learningRate(iteration));
    this.feeder.setStep(iteration, iteration - epoch * this.perEpoch);
  }
}

export class TrainPack {
  readonly spec: ModelSpec;
  readonly members: readonly PackMember[];
  readonly program: Program;
  /** Which ops run as one dispatch for all members, and why the others do not. */
  readonly fusion: FusedList;
  /** The same for the step of the short last batch (null when every batch is full). */
  readonly shortFusion: FusedList | null;
  readonly batch: number;
  /** Iterations per epoch: ceil(training set (after subsampling) / batch). */
  readonly perEpoch: number;
  /** Examples in the last batch of each epoch (= batch when it is full or padded). */
  readonly lastBatch: number;
  /** The Program variant of the short last batch's step (null: none). */
  private readonly shortVariant: number | null;
  private readonly ring: number;
  private readonly owned: GPUBuffer[];
  /** Iteration of the Program's step 0: snapshots count Program steps, runs may start at k or resume. */
  private firstIteration = 0;

  constructor(private readonly gpu: Gpu, o: TrainPackOptions) {
    if (!o.members.length) throw new Error('a pack needs at least one member');
    const key = packKey(o.members[0]!.hparams);
    for (const m of o.members) {
      if (packKey(m.hparams) !== key) throw new UserError(`runs cannot share a pack: ${packKey(m.hparams)} differs from ${key} (model, batch size, optimiser and training set must agree)`);
    }
    const phase = o.phase ?? (() => {});
    this.ring = o.ring ?? 2;
    const k = o.members.length;
    const amp = o.members[0]!.hparams.training.apex_fp16;
    // Per member in the metrics: loss, correct count (and under mixed precision: skipped, scale).
    const per = amp ? AMP_STATS : 2;
    const onSnapshot = (p: number, v: Float32Array) => {
      for (const m of this.members) {
        const at = per * m.index;
        if (m.stoppedAt === null || p < m.stoppedAt) {
          o.members[m.index]!.onMetrics?.(this.firstIteration + p, v[at]!, v[at + 1]!, ...(amp ? [{ skipped: v[at + 2] !== 0, scale: v[at + 3]! }] : []));
        }
      }
    };
    const { value, buffers: made } = collectBuffers(gpu.device, () => {
      const h0 = o.members[0]!.hparams;
      const spec = o.spec ?? modelForData(h0.model.model_name, o.data.train, taskClasses(h0, o.data.train.classes));
      const stats = createTensor(gpu, 'train_stats', [per * k]);
      const uploads = new Map<string, DeviceDataset>();
      // A pack of one allocates as a run alone always has; more members share slabs.
      const slabs = k > 1 ? new SlabScope(gpu, k) : null;
      const member = <T>(i: number, f: () => T): T => (slabs ? slabs.build(i, f) : f());
      // The batch gather fuses when every member's dataset sits in one slab: members whose host
      // transformations differ (each subsampled with its own seed) each get a slice; members that
      // could share one upload get a copy each when the copies are small (a subsampled set), and
      // otherwise share it, gathering once per member.
      const keys = o.members.map((mo) => uploadKey(mo.hparams, mo.replicate));
      const distinct = new Set(keys).size;
      const ownUploads = k > 1 && distinct > 1 && (distinct === k || uploadBytes(o.data, h0) * k <= (o.datasetCopyBytes ?? COPY_BUDGET));
      const members = o.members.map((mo, i) => {
        const h = mo.hparams;
        phase('arenas');
        const state = member(i, () => createModelState(gpu, spec, { amp }));
        phase('dataset');
        const makeData = () => new DeviceDataset(gpu, o.data, h, mo.replicate, ownUploads ? undefined : uploads.get(keys[i]!));
        const data = ownUploads ? member(i, makeData) : makeData();
        if (!ownUploads) uploads.set(keys[i]!, data);
        return member(i, () => {
          phase('activations');
          const model = compileModel(gpu, state, h.dataset.batch_size, { amp });
          const perEpoch = Math.ceil(data.trainCount / model.batch);
          const last = lastBatchSize(data.trainCount, model.batch, h.dataset.pad_last_batch);
          const short = last < model.batch ? compileModel(gpu, state, last, { borrowFrom: model, amp }) : null;
          phase('dataset'); // the epoch order and the batch labels
          const feeder = new BatchFeeder(gpu, data, model, h, mo.replicate, short ?? undefined);
          phase('metrics');
          const target = { stats, slot: per * i };
          const loss = softmaxCrossEntropy(gpu, model.logits, feeder.labels, data.classes, model.dlogits, target);
          // Mixed precision: the scaled loss's gradient before the backward pass; unscaling, the
          // inf/NaN check and the scale's update after it; the optimiser skips a step that found one.
          const scaler = amp ? new LossScaler(gpu, state, h.training.optimizer_name, { tensor: stats, slot: target.slot }) : null;
          const optimizer = createOptimizer(gpu, state, h.training, scaler ?? undefined);
          const backward = (m: CompiledModel) => scaler ? [scaler.scaleGrad(m.dlogits), ...m.backward, scaler.unscale, scaler.update] : m.backward;
          const list = [feeder.dispatch, ...model.forwardTrain, loss, ...backward(model), optimizer.dispatch];
          const shortList = short && [feeder.shortDispatch!, ...short.forwardTrain,
            softmaxCrossEntropy(gpu, short.logits, feeder.shortLabels!, data.classes, short.dlogits, target), ...backward(short), optimizer.dispatch];
          const t = h.training, steps = (s: string, what: string) => stepToIterations(s, perEpoch, what);
          const schedule: Schedule = {
            lr: t.lr, gamma: t.gamma ?? 1, warmup: t.warmup_steps ? steps(t.warmup_steps, 'warmup_steps') : 0,
            milestones: (t.milestone_steps ?? []).map((m) => steps(m, 'milestone_steps')),
          };
          return new PackMember(gpu, i, state, data, model, feeder, optimizer, list, shortList, schedule, perEpoch, last, scaler);
        });
      });
      const fusion = fuseMembers(gpu, members.map((m) => m.list));
      const program = new Program(gpu, k === 1 ? 'train-step' : `train-pack-${k}`, [fusion.dispatches], { tensor: stats, ringSize: this.ring, onSnapshot });
      // Members agree on the training set's size and padding (packKey), so on the short batch too.
      const shortFusion = members[0]!.shortList ? fuseMembers(gpu, members.map((m) => m.shortList!)) : null;
      const shortVariant = shortFusion ? program.addVariant([shortFusion.dispatches]) : null;
      return { spec, members, program, fusion, shortFusion, shortVariant };
    });
    ({ spec: this.spec, members: this.members, program: this.program, fusion: this.fusion, shortFusion: this.shortFusion, shortVariant: this.shortVariant } = value);
    this.owned = made;
    this.batch = this.members[0]!.model.batch;
    this.perEpoch = this.members[0]!.perEpoch;
    this.lastBatch = this.members[0]!.lastBatch;
  }

  /** The dispatches of one step in submission order (for profilers). */
  get dispatches(): readonly Dispatch[] { return this.fusion.dispatches; }

  /** Writes every running member's uniforms of `iteration` for the next submit (step() does this). */
  prepare(iteration: number): void {
    for (const m of this.members) if (m.active) m.prepare(iteration);
  }

  /** Submits training iteration `iteration` of every running member (with `extra` work, e.g. telemetry); does not wait for it. */
  async step(iteration: number, extra: readonly ExtraWork[] = []): Promise<void> {
    if (this.program.counters.steps === 0) this.firstIteration = iteration;
    this.prepare(iteration);
    const short = this.shortVariant !== null && this.members[0]!.batchAt(iteration) < this.batch;
    await this.program.step(true, extra, short ? this.shortVariant! : 0);
  }

  /**
   * Stops member `i` (it diverged): from the next step on its metrics are not delivered and its
   * uniforms no longer advance; the others go on. Its slices keep being computed (a fused dispatch
   * covers every member) and its buffers stay until destroy().
   */
  stop(i: number): void {
    const m = this.members[i]!;
    if (m.active) m.stoppedAt = this.program.counters.steps;
  }

  /** Waits for every submitted step and delivers their metrics. */
  flush(): Promise<void> { return this.program.flush(); }

  /** A further output snapshotted on steps that carry ExtraWork naming it; the handler gets the iteration. */
  addChannel(tensor: Tensor, onSnapshot: (iteration: number, values: Float32Array) => void): number {
    return this.program.addChannel(tensor, (p, v) => onSnapshot(this.firstIteration + p, v), this.ring);
  }

  /**
   * Builds something that works on a member's model and data (the evaluator, telemetry) and takes
   * ownership of the buffers it creates, so destroy() frees them too.
   */
  own<T>(build: () => T): T {
    const { value, buffers: made } = collectBuffers(this.gpu.device, build);
    this.owned.push(...made);
    return value;
  }

  /** Frees every buffer this pack made or adopted; safe to call twice. */
  destroy(): void {
    this.program.destroy(); // its channels' staging rings, also those added after construction
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
  }
}
