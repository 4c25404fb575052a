// One run's side of a lockstep pack (src/train/lockstep.ts): its folder, metrics, evaluator,
// telemetry and progress events. The pack steps all runs together; each MemberRun records what its
// own run saw and writes its own folder, exactly as the run would alone.
import type { Gpu } from '../gpu/gpu.ts';
import type { ExtraWork } from '../gpu/program.ts';
import { UserError } from '../errors.ts';
import { formatMetrics, type MetricRow } from './metrics.ts';
import { encodeCheckpoint, encodeWeights, type HostState } from './checkpoint.ts';
import type { RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import type { RunControl } from './control.ts';
import { sha256Hex } from '../io/digest.ts';
import { Evaluator } from './evaluator.ts';
import { Telemetry, distanceToFinalRows, finalComparisonIterations, telemetrySchedule } from './telemetry.ts';
import type { PackMember, TrainPack } from './train-pack.ts';
import { finite, lastRow } from './run-files.ts';
import type { OpenRun } from './run-open.ts';
import type { TrainResult } from './train-job.ts';
import type { AmpStepStats } from './amp.ts';

/** One run's side of the loop: its folder, metrics, evaluator, telemetry and progress. */
export class MemberRun {
  metrics: MetricRow[];
  diverged: string | null = null;
  /** Its RunControl was stopped (RunStoppedError): it leaves the pack like a diverged run, the others go on. */
  stopped: unknown = null;
  failed: unknown = null;
  result: TrainResult | null = null;
  epochLoss = 0; epochCorrect = 0; epochSeen = 0; epochSteps = 0;
  /** Mixed precision: steps of this epoch the loss scaler skipped, and the scale of its latest step (null: f32 training). */
  epochSkipped = 0; lossScale: number | null = null;
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
  get control(): RunControl | undefined { return this.r.job.control; }

  /** Puts the run's state on its pack member and says so. */
  load(gpu: Gpu, iteration: number): void {
    const { r } = this;
    this.member.load(r.state, r.mask); // zeroes the pruned weights of state.params too: telemetry's start is what trains
    this.sink({ type: 'start', run: this.run, model: r.spec.name, dataset: r.h.dataset.dataset_name, adapter: gpu.adapter.shortName, totalIterations: r.total, startIteration: iteration, resumed: r.resumed });
  }

  /**
   * Before the first step: the start weights (a fresh run), the evaluator, telemetry against the
   * run's starting weights (re-read from its start file after a resume), the first evaluation.
   */
  async prepare(gpu: Gpu, pack: TrainPack, iteration: number, t0: number): Promise<void> {
    const { r } = this;
    if (iteration === r.start && !r.resumed) await this.saveWeights(r.start);
    this.evaluator = pack.own(() => new Evaluator(gpu, this.member.state, this.member.data, r.h.dataset.batch_size));
    const o = r.job.telemetry;
    if (o) {
      const startState = r.resumed ? await r.readWeights(r.start) : r.state; // checked before resuming
      if (!startState) throw new UserError(`${r.path(r.stepName(r.start))} is missing: telemetry needs the run's starting weights; delete ${r.job.dir} to rerun`);
      const t = pack.own(() => new Telemetry(gpu, this.member.state, startState.params, r.mask, o, r.job.replicate));
      const channel = pack.addChannel(t.output, (it, v) => { this.metrics.push(...t.rows(it + 1, v)); });
      this.telemetry = { t, channel, at: telemetrySchedule(o, r.start, r.total, r.perEpoch) };
    }
    if (iteration === r.start && !r.resumed && !r.job.evaluateOnlyAtEnd) await this.evaluate(iteration, t0);
  }

  /** Telemetry's extra work when it is due after iteration `iteration`. */
  telemetryAfter(iteration: number): ExtraWork | null {
    return this.member.active && this.telemetry?.at.has(iteration + 1) ? { dispatches: this.telemetry.t.dispatches, channel: this.telemetry.channel } : null;
  }

  /** Whether weights are to be saved after iteration `iteration` (not the end: finish() saves that). */
  savesAfter(iteration: number): boolean {
    return this.member.active && this.r.saveAt.has(iteration + 1) && iteration + 1 < this.r.total;
  }
  get run(): string { return this.r.job.run; }

  onMetrics(it: number, l: number, correct: number, amp?: AmpStepStats): void {
    const batch = this.member.batchAt(it); // the epoch's last batch may be short
    if (amp) {
      if (amp.skipped) this.epochSkipped++;
      this.lossScale = amp.scale;
    }
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

  startEpoch(): void { this.epochLoss = 0; this.epochCorrect = 0; this.epochSeen = 0; this.epochSteps = 0; this.epochSkipped = 0; }

  /** Epoch end: metrics, evaluation, checkpoint. */
  async endEpoch(iteration: number, t0: number): Promise<void> {
    const { total } = this.r;
    // The mean of the steps' mean losses (each over the batch it had), as a per-step average reads.
    this.metrics.push({ name: 'train_epoch_loss', iteration, value: this.epochLoss / Math.max(1, this.epochSteps) },
      { name: 'train_accuracy', iteration, value: this.epochCorrect / Math.max(1, this.epochSeen) });
    // Mixed precision: the steps the loss scaler skipped this epoch (inf/NaN gradients) and the scale its last step used.
    if (this.lossScale !== null) {
      this.metrics.push({ name: 'amp_skipped_steps', iteration, value: this.epochSkipped }, { name: 'amp_loss_scale', iteration, value: this.lossScale });
    }
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
