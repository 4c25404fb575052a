// The training loop: the run-folder state machine around a TrainPack (src/train/train-pack.ts).
// Used by `earlyphase train` and by every lottery level and branch. It skips a finished run,
// resumes from a checkpoint (src/train/run-open.ts), saves weights, evaluates, records metrics and
// telemetry and emits events; the step itself (gather + augment → forward → loss → backward →
// masked SGD or Adam, one submit) is the pack's. A pack trains several runs in lockstep, each
// exactly as it would train alone, so one loop serves one run and many: a run alone is a pack of
// one. Steps are submitted without waiting: loss and accuracy arrive through the staging ring, so
// a NaN/Inf loss stops its run within `RING` steps (the others in its pack go on). State is
// checkpointed at every epoch end (weights, optimiser state, BN statistics, metrics), so a killed
// run resumes from the last epoch boundary and ends bitwise-identical to an uninterrupted one.
import type { Gpu } from '../gpu/gpu.ts';
import { UserError } from '../errors.ts';
import type { Hparams } from './hparams.ts';
import { stepToIterations } from './steps.ts';
import { formatMetrics, type MetricRow } from './metrics.ts';
import { encodeCheckpoint, encodeWeights, type HostState } from './checkpoint.ts';
import type { RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import type { RunControl } from './control.ts';
import { canonicalJSON, sha256Hex } from './hash.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { trainExamples } from './device-data.ts';
import { Evaluator } from './evaluator.ts';
import { Telemetry, distanceToFinalRows, finalComparisonIterations, telemetrySchedule, type TelemetryOptions } from './telemetry.ts';
import { TrainPack, packKey, type PackMember } from './train-pack.ts';
import type { ExtraWork } from '../gpu/program.ts';
import { DivergenceError, finite, lastRow } from './run-files.ts';
import { openRun, type OpenRun } from './run-open.ts';

/** Snapshots in flight: NaN detection lags by at most this many iterations. */
const RING = 2;

export interface TrainJob {
  /** Display name for progress lines, e.g. "lottery_ab12…/replicate_1/level_3". */
  run: string;
  /** Folder under the storage root. */
  dir: string;
  hparams: Hparams;
  replicate: number;
  data: DatasetSplits;
  /** Start from these weights (rewind point) instead of the seeded initialisation. */
  init?: HostState;
  /** 0/1 per parameter element in arena layout; pruned weights and their optimiser state stay exactly 0. */
  mask?: Float32Array;
  /** First iteration (k when rewinding); the schedule and data order continue from there. */
  startIteration?: number;
  /** Save model_<step>.safetensors at these iterations (the start and the end are always saved). */
  saveIterations?: number[];
  evaluateOnlyAtEnd?: boolean;
  /** Early-training telemetry (src/train/telemetry.ts); off when absent. */
  telemetry?: TelemetryOptions;
  /** Pause/stop between steps (the browser tab); absent for the CLI. */
  control?: RunControl;
}

export interface TrainResult {
  final: HostState;
  testAccuracy: number | null;
  weightsHash: string;
  iterations: number;
  skipped: boolean;
}

export function unsupportedKnobs(h: Hparams): string[] {
  const out: string[] = [];
  if (h.model.model_init !== 'kaiming_normal') out.push(`--model-init ${h.model.model_init} (only kaiming_normal is implemented)`);
  for (const k of ['batchnorm_frozen', 'output_frozen', 'others_frozen'] as const) if (h.model[k]) out.push(`--${k.replace(/_/g, '-')} (freezing is not implemented)`);
  return out;
}

/** The model's state layout plus what a run needs to start, built before any long GPU work. */
export function iterationsFor(h: Hparams, datasetExamples: number): { perEpoch: number; total: number } {
  const perEpoch = Math.ceil(trainExamples(h, datasetExamples) / h.dataset.batch_size);
  return { perEpoch, total: stepToIterations(h.training.training_steps, perEpoch, 'training_steps') };
}


/** A run's outcome in a pack: its result, or the error that stopped it alone. */
export type PackOutcome = TrainResult | { error: unknown };

export interface PackOptions {
  /** Runs per pack at most (default 1: each run alone). Runs share a pack only when they can train in lockstep. */
  pack?: number;
}

/** Trains one run; a finished one is reported from its files. */
export async function train(gpu: Gpu, storage: RunStorage, sink: EventSink, job: TrainJob): Promise<TrainResult> {
  const [r] = await trainRuns(gpu, storage, sink, [job]);
  if ('error' in r!) throw r.error;
  return r!;
}

/**
 * Trains several runs, `o.pack` at a time in one TrainPack where they can go in lockstep (same
 * data, model, batch size, optimiser kind and training length, and standing at the same
 * iteration: see lockstepKey). Each outcome is the run's own: one that fails or diverges does not
 * stop the others. The run folders are exactly those of training each run alone.
 */
export async function trainRuns(gpu: Gpu, storage: RunStorage, sink: EventSink, jobs: readonly TrainJob[], o: PackOptions = {}): Promise<PackOutcome[]> {
  const out: PackOutcome[] = new Array(jobs.length);
  const groups = new Map<string, { i: number; run: OpenRun }[]>();
  for (const [i, job] of jobs.entries()) {
    try {
      const r = await openRun(storage, sink, job, gpu.adapter.description);
      if ('finished' in r) { out[i] = r.finished; continue; }
      const key = lockstepKey(r.run);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push({ i, run: r.run });
    } catch (e) {
      if (jobs.length === 1 || !(e instanceof UserError)) throw e;
      out[i] = { error: e };
    }
  }
  const size = Math.max(1, Math.floor(o.pack ?? 1));
  for (const g of groups.values()) {
    for (let a = 0; a < g.length; a += size) {
      const chunk = g.slice(a, a + size);
      const results = await trainLockstep(gpu, storage, sink, chunk.map((e) => e.run));
      chunk.forEach((e, j) => { out[e.i] = results[j]!; });
    }
  }
  return out;
}

const dataIds = new WeakMap<DatasetSplits, number>();
let nextDataId = 0;
/** Runs with equal keys can share a pack: the same step shapes, and at the same point of the same schedule. */
function lockstepKey(r: OpenRun): string {
  let id = dataIds.get(r.job.data);
  if (id === undefined) { id = nextDataId++; dataIds.set(r.job.data, id); }
  return canonicalJSON({ data: id, step: packKey(r.h), spec: r.spec.name, classes: r.spec.classes, start: r.start, at: r.iteration, total: r.total, perEpoch: r.perEpoch });
}

/** One run's side of the loop: its folder, metrics, evaluator, telemetry and progress. */
class MemberRun {
  metrics: MetricRow[];
  diverged: string | null = null;
  /** Its RunControl was stopped (RunStoppedError): it leaves the pack like a diverged run, the others go on. */
  stopped: unknown = null;
  failed: unknown = null;
  result: TrainResult | null = null;
  epochLoss = 0; epochCorrect = 0; epochSeen = 0; epochSteps = 0;
  lastReport = Date.now(); reportImages = 0;
  testAccuracy: number | null;
  evaluator!: Evaluator;
  telemetry: { t: Telemetry; channel: number; at: Set<number> } | null = null;
  member!: PackMember;

  constructor(readonly r: OpenRun, private readonly storage: RunStorage, private readonly sink: EventSink, private readonly meta: Record<string, string>) {
    this.metrics = r.metrics;
    // The latest evaluation, restored with the metrics on a resume (a run killed after its last
    // evaluation must still report it, not null).
    this.testAccuracy = lastRow(this.metrics, (m) => m.name === 'test_accuracy')?.value ?? null;
  }

  get running(): boolean { return this.failed === null && this.result === null; }
  get run(): string { return this.r.job.run; }

  onMetrics(it: number, l: number, correct: number): void {
    const batch = this.member.batchAt(it); // the epoch's last batch may be short
    if (!Number.isFinite(l) && !this.diverged) this.diverged = `loss is ${l} at iteration ${it}`;
    this.epochLoss += l; this.epochCorrect += correct; this.epochSeen += batch; this.epochSteps++;
    this.metrics.push({ name: 'train_loss', iteration: it, value: l });
    const now = Date.now();
    if (now - this.lastReport > 1000 || it === this.r.total - 1) {
      this.sink({ type: 'step', run: this.run, iteration: it + 1, totalIterations: this.r.total, loss: l, accuracy: correct / batch,
        lr: this.member.learningRate(it), imagesPerSecond: (this.reportImages * 1000) / Math.max(1, now - this.lastReport) });
      this.lastReport = now; this.reportImages = 0;
    }
  }

  async saveWeights(it: number): Promise<{ s: HostState; sha256: string }> {
    const s = finite(await this.member.weights());
    const bytes = encodeWeights(this.r.pLayout, this.r.sLayout, s, { ...this.meta, iteration: String(it) });
    await this.storage.write(this.r.path(this.r.stepName(it)), bytes);
    return { s, sha256: sha256Hex(bytes) };
  }

  async evaluate(it: number, t0: number): Promise<void> {
    const e0 = Date.now();
    const r = await this.evaluator.run();
    this.metrics.push({ name: 'test_loss', iteration: it, value: r.loss }, { name: 'test_accuracy', iteration: it, value: r.accuracy });
    this.sink({ type: 'eval', run: this.run, iteration: it, testLoss: r.loss, testAccuracy: r.accuracy, seconds: (Date.now() - e0) / 1000, elapsedSeconds: (Date.now() - t0) / 1000 });
    this.testAccuracy = r.accuracy;
  }

  startEpoch(): void { this.epochLoss = 0; this.epochCorrect = 0; this.epochSeen = 0; this.epochSteps = 0; }

  /** Epoch end: metrics, evaluation, checkpoint. */
  async endEpoch(iteration: number, t0: number): Promise<void> {
    const { total } = this.r;
    // The mean of the steps' mean losses (each over the batch it had), as a per-step average reads.
    this.metrics.push({ name: 'train_epoch_loss', iteration, value: this.epochLoss / Math.max(1, this.epochSteps) },
      { name: 'train_accuracy', iteration, value: this.epochCorrect / Math.max(1, this.epochSeen) });
    if (!this.r.job.evaluateOnlyAtEnd || iteration === total) await this.evaluate(iteration, t0);
    const s = finite(await this.member.save());
    await this.storage.write(this.r.path('metrics.csv'), formatMetrics(this.metrics));
    await this.storage.write(this.r.path('checkpoint.safetensors'), encodeCheckpoint(this.r.pLayout, this.r.sLayout, s, iteration, this.meta));
    this.sink({ type: 'checkpoint', run: this.run, iteration });
  }

  /** The end of training: final weights, distances to them, metrics, done.json. */
  async finish(t0: number): Promise<void> {
    const { total, start, perEpoch, job } = this.r;
    // Only when resumed at the end from files written before the accuracy was recorded (old runs).
    if (this.testAccuracy === null) await this.evaluate(total, t0);
    const { s: final, sha256: weightsFileSha256 } = await this.saveWeights(total);
    const weightsHash = sha256Hex(new Uint8Array(final.params.buffer)).slice(0, 16);
    if (job.telemetry) {
      // Distances to the final weights, from the weights saved along the way (the start included).
      const saved = new Map<number, Float32Array>();
      for (const it of [start, ...finalComparisonIterations(start, total, perEpoch)]) {
        const w = await this.r.readWeights(it);
        if (w) saved.set(it, w.params);
      }
      this.metrics.push(...distanceToFinalRows(this.r.pLayout.layout(), saved, final.params));
    }
    await this.storage.write(this.r.path('metrics.csv'), formatMetrics(this.metrics));
    await this.storage.write(this.r.path('done.json'), JSON.stringify({ iteration: total, testAccuracy: this.testAccuracy, weightsHash, weightsFileSha256 }) + '\n');
    this.sink({ type: 'done', run: this.run, iteration: total, testAccuracy: this.testAccuracy, weightsHash, seconds: (Date.now() - t0) / 1000, skipped: false });
    this.result = { final, testAccuracy: this.testAccuracy, weightsHash, iterations: total, skipped: false };
  }
}

/** Trains runs that stand at the same iteration of the same schedule, one TrainPack for all of them. */
async function trainLockstep(gpu: Gpu, storage: RunStorage, sink: EventSink, runs: readonly OpenRun[]): Promise<PackOutcome[]> {
  const t0 = Date.now();
  const { total, perEpoch, start, job: first } = runs[0]!;
  const meta = { model: runs[0]!.spec.name, adapter: gpu.adapter.description };
  const members = runs.map((r) => new MemberRun(r, storage, sink, meta));
  // Loss snapshots arrive up to RING steps late, so a NaN stops its run within RING iterations.
  // A pack the device has no memory for is split in halves (nothing has been written yet).
  gpu.device.pushErrorScope('out-of-memory');
  let pack: TrainPack | null = null;
  try {
    pack = new TrainPack(gpu, {
      data: first.data, spec: runs[0]!.spec, ring: RING,
      members: runs.map((r, i) => ({ hparams: r.h, replicate: r.job.replicate, onMetrics: (it: number, l: number, c: number) => members[i]!.onMetrics(it, l, c) })),
    });
  } finally {
    const oom = await gpu.device.popErrorScope();
    if (oom) {
      pack?.destroy();
      if (runs.length === 1) throw new UserError(`out of GPU memory for one run of ${runs[0]!.spec.name} at batch ${runs[0]!.h.dataset.batch_size}: ${oom.message}; lower --batch-size`);
      const half = Math.ceil(runs.length / 2);
      sink({ type: 'log', run: first.run, message: `a pack of ${runs.length} runs does not fit in GPU memory; training them as packs of ${half} and ${runs.length - half}` });
      return [...await trainLockstep(gpu, storage, sink, runs.slice(0, half)), ...await trainLockstep(gpu, storage, sink, runs.slice(half))];
    }
  }
  members.forEach((m, i) => { m.member = pack.members[i]!; });
  const { unfused } = pack.fusion;
  if (unfused.length) {
    const why = unfused.slice(0, 3).map((u) => `${u.label}: ${u.reason}`).join('; ');
    sink({ type: 'log', run: first.run, message: `${unfused.length} of the step's ops run once per member of this pack of ${runs.length}, not as one dispatch (${why}${unfused.length > 3 ? '; …' : ''})` });
  }
  /** Runs `f` for each running member; a UserError (divergence, a file it cannot use) stops that member alone. */
  const each = async (f: (m: MemberRun, i: number) => Promise<void> | void) => {
    for (const [i, m] of members.entries()) {
      if (!m.running) continue;
      try {
        await f(m, i);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        m.failed = e;
        pack.stop(i);
      }
    }
  };
  let iteration = runs[0]!.iteration;
  try {
    await each((m) => {
      m.member.load(m.r.state, m.r.mask); // zeroes the pruned weights of state.params too: telemetry's start is what trains
      sink({ type: 'start', run: m.run, model: m.r.spec.name, dataset: m.r.h.dataset.dataset_name, adapter: gpu.adapter.shortName, totalIterations: total, startIteration: iteration, resumed: m.r.resumed });
    });
    await each(async (m) => {
      if (iteration === start && !m.r.resumed) await m.saveWeights(start);
      m.evaluator = pack.own(() => new Evaluator(gpu, m.member.state, m.member.data, m.r.h.dataset.batch_size));
      // Telemetry against the run's starting weights (re-read from its start file after a resume).
      const o = m.r.job.telemetry;
      if (o) {
        const startState = m.r.resumed ? await m.r.readWeights(start) : m.r.state; // checked before resuming
        if (!startState) throw new UserError(`${m.r.path(m.r.stepName(start))} is missing: telemetry needs the run's starting weights; delete ${m.r.job.dir} to rerun`);
        const t = pack.own(() => new Telemetry(gpu, m.member.state, startState.params, m.r.mask, o, m.r.job.replicate));
        const channel = pack.addChannel(t.output, (it, v) => { m.metrics.push(...t.rows(it + 1, v)); });
        m.telemetry = { t, channel, at: telemetrySchedule(o, start, total, perEpoch) };
      }
      if (iteration === start && !m.r.resumed && !m.r.job.evaluateOnlyAtEnd) await m.evaluate(iteration, t0);
    });
    const controls = [...new Set(runs.map((r) => r.job.control).filter((c): c is RunControl => !!c))];
    while (iteration < total && members.some((m) => m.running)) {
      const epochEnd = Math.min((Math.floor(iteration / perEpoch) + 1) * perEpoch, total);
      for (const m of members) m.startEpoch();
      for (; iteration < epochEnd; iteration++) {
        // A pause holds the whole pack (it steps in lockstep); a stop during it is taken per run below.
        for (const c of controls) if (c.paused) await c.wait().catch(() => {});
        // A diverged or stopped run leaves the pack at once; its error is reported at the epoch end, after the flush.
        for (const [i, m] of members.entries()) {
          const c = m.r.job.control;
          if (c?.interrupted && m.running && !m.stopped) m.stopped = await c.wait().then(() => null, (e: unknown) => e);
          if ((m.diverged || m.stopped) && pack.members[i]!.active) pack.stop(i);
        }
        if (!pack.members.some((p) => p.active)) break;
        const extra: ExtraWork[] = [];
        for (const [i, m] of members.entries()) {
          if (pack.members[i]!.active && m.telemetry?.at.has(iteration + 1)) extra.push({ dispatches: m.telemetry.t.dispatches, channel: m.telemetry.channel });
        }
        await pack.step(iteration, extra);
        for (const m of members) m.reportImages += m.member.batchAt(iteration);
        const saving = members.filter((m, i) => pack.members[i]!.active && m.r.saveAt.has(iteration + 1));
        if (saving.length && iteration + 1 < total) {
          await pack.flush();
          await each(async (m) => { if (saving.includes(m) && !m.diverged) await m.saveWeights(iteration + 1); });
        }
      }
      await pack.flush();
      await each(async (m) => {
        if (m.stopped) throw m.stopped;
        if (m.diverged) throw new DivergenceError(`training diverged: ${m.diverged}; no checkpoint was written after it. Lower --lr or check the data.`);
        await m.endEpoch(iteration, t0);
      });
    }
    await each((m) => m.finish(t0));
  } catch (e) {
    // Not one run's failure (a lost device, a full disk): every run still going shares it.
    for (const m of members) if (m.running) m.failed = e;
  } finally {
    pack.destroy();
  }
  return members.map((m) => (m.result ?? { error: m.failed }));
}
