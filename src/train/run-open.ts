// Opening a run folder before any GPU work: a finished run is reported from its files (when they
// all check out), a killed one resumes from its checkpoint (when everything up to it is intact),
// anything else starts from the given weights (the driver's, else --init-weights's: init-weights.ts)
// or the seeded initialisation. What comes out is either the finished result or everything the
// training loop needs to go on (an OpenRun).
import { UserError } from '../errors.ts';
import type { Arena } from '../gpu/tensor.ts';
import type { ModelSpec } from '../nn/graph.ts';
import { hparamsToJSON, type Hparams } from './hparams.ts';
import { modelForData } from '../nn/zoo.ts';
import { initParameters, initRunningStats, type BatchnormInit } from '../nn/init.ts';
import { parseMetrics, type MetricRow } from './metrics.ts';
import { decodeCheckpoint, decodeWeights, type CheckpointState, type HostState } from './checkpoint.ts';
import { freshOptimizerState, optimizerLayout } from './optimizer.ts';
import { text, type RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import { checkDataRecord } from './data-record.ts';
import { taskClasses } from './device-data.ts';
import { finalComparisonIterations } from './telemetry.ts';
import { initWeightsFor } from './init-weights.ts';
import { stateLayout } from '../nn/model-state.ts';
import { defaultMask, finishedRun, metricsUpTo, parseDone, readOrDiscard, weightsFileName } from './run-files.ts';
import { iterationsFor, unsupportedKnobs } from './run-plan.ts';
import type { TrainJob, TrainResult } from './train-job.ts';

/** A run ready to train: its layouts, where it stands, and its state to load. */
export interface OpenRun {
  job: TrainJob;
  h: Hparams;
  spec: ModelSpec;
  pLayout: Arena;
  sLayout: Arena;
  perEpoch: number;
  total: number;
  start: number;
  /** Where training goes on: `start`, or the checkpoint's iteration on a resume. */
  iteration: number;
  resumed: boolean;
  state: CheckpointState;
  mask: Float32Array;
  /** The metrics recorded up to `iteration`. */
  metrics: MetricRow[];
  /** Iterations after which weights are saved before the end (requested ones and telemetry's). */
  saveAt: Set<number>;
  /** Weights files written before the end: the start and the save points. */
  saved: number[];
  path(f: string): string;
  stepName(it: number): string;
  readWeights(it: number): Promise<HostState | null>;
}

export async function openRun(storage: RunStorage, sink: EventSink, job: TrainJob, adapter: string): Promise<{ finished: TrainResult } | { run: OpenRun }> {
  const folder = new RunFolder(storage, sink, job);
  await folder.clean();
  const finished = await folder.finished();
  if (finished) return { finished };
  await storage.write(folder.path('hparams.json'), folder.hparamsText);
  const { ckpt, metrics } = await folder.resumePoint(adapter);
  return { run: folder.open(ckpt, metrics) };
}

/** One run's folder as the trainer finds it: its layouts, what it has written, and where it stands. */
class RunFolder {
  readonly h: Hparams;
  readonly spec: ModelSpec;
  readonly perEpoch: number;
  readonly total: number;
  readonly start: number;
  // Run files are read and written in this layout, with no GPU work until training starts.
  readonly pLayout: Arena;
  readonly sLayout: Arena;
  /** Iterations after which weights are saved before the end (requested ones and telemetry's). */
  readonly saveAt: Set<number>;
  /** Weights files this run writes before its end: its start, and the requested save points. */
  readonly saved: number[];
  readonly hparamsText: string;

  constructor(private readonly storage: RunStorage, private readonly sink: EventSink, readonly job: TrainJob) {
    const h = this.h = job.hparams;
    const bad = unsupportedKnobs(h);
    if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
    this.spec = modelForData(h.model.model_name, job.data.train, taskClasses(h, job.data.train.classes));
    ({ perEpoch: this.perEpoch, total: this.total } = iterationsFor(h, job.data.train.count));
    const start = this.start = job.startIteration ?? 0;
    if (start > this.total) throw new UserError(`start iteration ${start} is past the end of training (${this.total} iterations = ${h.training.training_steps})`);
    ({ params: this.pLayout, stats: this.sLayout } = stateLayout(this.spec));
    this.saveAt = new Set([...(job.saveIterations ?? []), ...(job.telemetry ? finalComparisonIterations(start, this.total, this.perEpoch) : [])]);
    this.saved = [start, ...[...this.saveAt].filter((it) => it > start && it < this.total).sort((a, b) => a - b)];
    this.hparamsText = JSON.stringify(hparamsToJSON(h), null, 2) + '\n';
  }

  path = (f: string): string => `${this.job.dir}/${f}`;
  stepName = (it: number): string => weightsFileName(it, this.perEpoch);

  private readFile<T>(f: string, decode: (b: Uint8Array) => T, removeUnverified = false): Promise<T | null> {
    return readOrDiscard(this.storage, this.path(f), this.sink, this.job.run, decode, removeUnverified);
  }

  readWeights = (it: number): Promise<HostState | null> =>
    this.readFile(this.stepName(it), (b) => decodeWeights(b, this.path(this.stepName(it)), this.pLayout, this.sLayout, it));

  private readCheckpoint(removeUnverified = false): Promise<CheckpointState & { iteration: number; adapter?: string } | null> {
    const layout = optimizerLayout(this.h.training.optimizer_name);
    return this.readFile('checkpoint.safetensors', (b) => decodeCheckpoint(b, this.path('checkpoint.safetensors'), this.pLayout, this.sLayout, layout,
      { start: this.start, total: this.total, perEpoch: this.perEpoch }, { amp: this.h.training.apex_fp16 }), removeUnverified);
  }

  /** Temp files killed writers left; then the data record: a folder trained on other data is refused before its result is reported. */
  async clean(): Promise<void> {
    const removed = await this.storage.removeStaleTemps?.(this.job.dir) ?? [];
    if (removed.length) this.sink({ type: 'log', run: this.job.run, message: `removed ${removed.length} temp file(s) left by killed writers in ${this.job.dir}` });
    await checkDataRecord(this.storage, this.job.dir, this.job.data.source);
  }

  /** The result of a finished run whose every result file checks out (final weights, metrics, saved weights); no GPU work. */
  async finished(): Promise<TrainResult | null> {
    const { job, total } = this;
    const done = await this.readFile('done.json', (b) => parseDone(b, this.path('done.json'), total));
    if (!done) return null;
    const final = await finishedRun(this.storage, this.sink, job.run, this.path, done, total, this.saved,
      (it, b) => decodeWeights(b, this.path(this.stepName(it)), this.pLayout, this.sLayout, it), this.stepName, () => this.readCheckpoint(true));
    if (!final) {
      // Something the result rests on is gone: recompute, and never leave the old verdict behind meanwhile.
      await this.storage.remove(this.path('done.json'));
      return null;
    }
    if ((await this.readFile('hparams.json', text)) !== this.hparamsText) {
      this.sink({ type: 'log', run: job.run, message: `${this.path('hparams.json')} does not hold this run's hyperparameters; rewriting it` });
      await this.storage.write(this.path('hparams.json'), this.hparamsText);
    }
    this.sink({ type: 'done', run: job.run, iteration: total, testAccuracy: done.testAccuracy, weightsHash: done.weightsHash, seconds: 0, skipped: true });
    return { final, testAccuracy: done.testAccuracy, weightsHash: done.weightsHash, iterations: total, skipped: true };
  }

  /** The checkpoint to resume from, when everything up to it is intact (its metrics, the weights saved before it), and those metrics. */
  async resumePoint(adapter: string): Promise<{ ckpt: CheckpointState & { iteration: number } | null; metrics: MetricRow[] }> {
    const { job } = this;
    const ckpt = await this.readCheckpoint();
    if (!ckpt) return { ckpt: null, metrics: [] };
    const m = await this.readFile('metrics.csv', (b) => parseMetrics(text(b), this.path('metrics.csv')));
    const at = ckpt.iteration;
    let why = !m ? 'metrics.csv cannot be used' : !m.some((r) => r.name === 'train_epoch_loss' && r.iteration === at) ? `metrics.csv has no rows for iteration ${at}` : null;
    for (const it of this.saved) if (!why && it <= at && !(await this.readWeights(it))) why = `${this.stepName(it)} cannot be used`;
    if (why) {
      this.sink({ type: 'log', run: job.run, message: `cannot resume ${job.dir} from its checkpoint at iteration ${at}: ${why}; training again from iteration ${this.start}` });
      return { ckpt: null, metrics: [] };
    }
    // Kernels differ between adapters (and kernel sets), so the weights will not match a run trained on one.
    if (ckpt.adapter && ckpt.adapter !== adapter) {
      this.sink({ type: 'log', run: job.run, message: `warning: resuming a checkpoint written on "${ckpt.adapter}" on "${adapter}": ` +
        'the result will not be bitwise identical to a run trained on either adapter alone' });
    }
    return { ckpt, metrics: metricsUpTo(m!, at) };
  }

  /**
   * Everything the loop needs. Initial state: the checkpoint to resume from, else the driver's
   * weights (a rewound level, a branch), else the file the hparams name by SHA-256
   * (--init-weights), else the seeded init; a run that does not resume starts a fresh optimiser,
   * as OpenLTH does for every run it trains.
   */
  open(ckpt: CheckpointState & { iteration: number } | null, metrics: MetricRow[]): OpenRun {
    const { job, h, spec, pLayout, sLayout } = this;
    const fresh = freshOptimizerState(optimizerLayout(h.training.optimizer_name), pLayout.elements);
    const state: CheckpointState = ckpt ?? (job.init ? { ...job.init, optimizer: fresh }
      : h.model.init_weights_sha256 !== undefined ? { ...initWeightsFor(h.model.init_weights_sha256, pLayout, sLayout), optimizer: fresh }
      : { params: initParameters(spec, pLayout, job.replicate, h.model.batchnorm_init as BatchnormInit), stats: initRunningStats(sLayout), optimizer: fresh });
    return {
      job, h, spec, pLayout, sLayout, perEpoch: this.perEpoch, total: this.total, start: this.start,
      iteration: ckpt ? ckpt.iteration : this.start, resumed: !!ckpt, state, mask: job.mask ?? defaultMask(pLayout), metrics,
      saveAt: this.saveAt, saved: this.saved, path: this.path, stepName: this.stepName, readWeights: this.readWeights,
    };
  }
}
