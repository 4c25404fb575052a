// The training loop: the run-folder state machine around one TrainStep (src/train/train-step.ts).
// Used by `earlyphase train` and by every lottery level and branch. It skips a finished run,
// resumes from a checkpoint, saves weights, evaluates, records metrics and telemetry and emits
// events; the step itself (gather + augment → forward → loss → backward → masked SGD or Adam, one
// submit) is TrainStep's. Steps are submitted without waiting: loss and accuracy arrive through
// the staging ring, so a NaN/Inf loss stops the run within `RING` steps. State is checkpointed at
// every epoch end (weights, optimiser state, BN statistics, metrics), so a killed run resumes
// from the last epoch boundary and ends bitwise-identical to an uninterrupted one.
import type { Gpu } from '../gpu/gpu.ts';
import type { Arena } from '../gpu/tensor.ts';
import { UserError } from '../errors.ts';
import type { Hparams } from './hparams.ts';
import { hparamsToJSON } from './hparams.ts';
import { modelForData } from '../nn/zoo.ts';
import { initParameters, initRunningStats, type BatchnormInit } from '../nn/init.ts';
import { stepToIterations } from './steps.ts';
import { formatMetrics, parseMetrics, type MetricRow } from './metrics.ts';
import { decodeCheckpoint, encodeCheckpoint, encodeWeights, decodeWeights, type CheckpointState, type HostState } from './checkpoint.ts';
import { freshOptimizerState, optimizerLayout } from './optimizer.ts';
import { CorruptFileError, UnverifiedFileError, text, type RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import type { RunControl } from './control.ts';
import { sha256Hex } from './hash.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import { checkDataRecord } from '../data/fingerprint.ts';
import { trainExamples, taskClasses } from './device-data.ts';
import { Evaluator } from './evaluator.ts';
import { Telemetry, distanceToFinalRows, finalComparisonIterations, telemetrySchedule, type TelemetryOptions } from './telemetry.ts';
import { TrainStep, stateLayout } from './train-step.ts';

/** Snapshots in flight: NaN detection lags by at most this many iterations. */
const RING = 2;

export class DivergenceError extends UserError {
  override name = 'DivergenceError';
}

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

export async function train(gpu: Gpu, storage: RunStorage, sink: EventSink, job: TrainJob): Promise<TrainResult> {
  const h = job.hparams;
  const bad = unsupportedKnobs(h);
  if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  const spec = modelForData(h.model.model_name, job.data.train, taskClasses(h, job.data.train.classes));
  const { perEpoch, total } = iterationsFor(h, job.data.train.count);
  const start = job.startIteration ?? 0;
  if (start > total) throw new UserError(`start iteration ${start} is past the end of training (${total} iterations = ${h.training.training_steps})`);
  const t0 = Date.now();
  const path = (f: string) => `${job.dir}/${f}`;
  const stepName = (it: number) => weightsFileName(it, perEpoch);
  // Run files are read and written in this layout, with no GPU work until training starts.
  const { params: pLayout, stats: sLayout } = stateLayout(spec);
  const readFile = <T>(f: string, decode: (b: Uint8Array) => T, removeUnverified = false) =>
    readOrDiscard(storage, path(f), sink, job.run, decode, removeUnverified);
  const readWeights = (it: number) => readFile(stepName(it), (b) => decodeWeights(b, path(stepName(it)), pLayout, sLayout, it));
  const removed = await storage.removeStaleTemps?.(job.dir) ?? [];
  if (removed.length) sink({ type: 'log', run: job.run, message: `removed ${removed.length} temp file(s) left by killed writers in ${job.dir}` });

  // A folder trained on other data is refused before its result is reported (src/data/fingerprint.ts).
  await checkDataRecord(storage, job.dir, job.data.source);
  // Weights files this run writes before its end: its start, and the requested save points.
  const saveAt = new Set([...(job.saveIterations ?? []), ...(job.telemetry ? finalComparisonIterations(start, total, perEpoch) : [])]);
  const saved = [start, ...[...saveAt].filter((it) => it > start && it < total).sort((a, b) => a - b)];
  const layout = optimizerLayout(h.training.optimizer_name);
  const readCheckpoint = (removeUnverified = false) => readFile('checkpoint.safetensors',
    (b) => decodeCheckpoint(b, path('checkpoint.safetensors'), pLayout, sLayout, layout, { start, total, perEpoch }), removeUnverified);

  const hparamsText = JSON.stringify(hparamsToJSON(h), null, 2) + '\n';
  // Finished already: every result file checks out (final weights, metrics, saved weights), no GPU work.
  const done = await readFile('done.json', (b) => parseDone(b, path('done.json'), total));
  if (done) {
    const final = await finishedRun(storage, sink, job.run, path, done, total, saved, (it, b) => decodeWeights(b, path(stepName(it)), pLayout, sLayout, it), stepName, () => readCheckpoint(true));
    if (final) {
      if ((await readFile('hparams.json', text)) !== hparamsText) {
        sink({ type: 'log', run: job.run, message: `${path('hparams.json')} does not hold this run's hyperparameters; rewriting it` });
        await storage.write(path('hparams.json'), hparamsText);
      }
      sink({ type: 'done', run: job.run, iteration: total, testAccuracy: done.testAccuracy, weightsHash: done.weightsHash, seconds: 0, skipped: true });
      return { final, testAccuracy: done.testAccuracy, weightsHash: done.weightsHash, iterations: total, skipped: true };
    }
    // Something the result rests on is gone: recompute, and never leave the old verdict behind meanwhile.
    await storage.remove(path('done.json'));
  }
  await storage.write(path('hparams.json'), hparamsText);

  // Initial state: a checkpoint to resume from, else the given weights, else the seeded init.
  let iteration = start;
  let metrics: MetricRow[] = [];
  let state: CheckpointState;
  let ckpt = await readCheckpoint();
  if (ckpt) {
    // Resuming needs everything up to the checkpoint: its metrics (not behind it) and the weights saved before it.
    const m = await readFile('metrics.csv', (b) => parseMetrics(text(b), path('metrics.csv')));
    const at = ckpt.iteration;
    let why = !m ? 'metrics.csv cannot be used' : !m.some((r) => r.name === 'train_epoch_loss' && r.iteration === at) ? `metrics.csv has no rows for iteration ${at}` : null;
    for (const it of saved) if (!why && it <= at && !(await readWeights(it))) why = `${stepName(it)} cannot be used`;
    if (why) {
      sink({ type: 'log', run: job.run, message: `cannot resume ${job.dir} from its checkpoint at iteration ${at}: ${why}; training again from iteration ${start}` });
      ckpt = null;
    } else {
      metrics = metricsUpTo(m!, at);
      // Kernels differ between adapters (and kernel sets), so the weights will not match a run trained on one.
      if (ckpt.adapter && ckpt.adapter !== gpu.adapter.description) {
        sink({ type: 'log', run: job.run, message: `warning: resuming a checkpoint written on "${ckpt.adapter}" on "${gpu.adapter.description}": ` +
          'the result will not be bitwise identical to a run trained on either adapter alone' });
      }
    }
  }
  // A run that does not resume starts a fresh optimiser, as OpenLTH does for every run it trains.
  const fresh = freshOptimizerState(layout, pLayout.elements);
  if (ckpt) {
    state = ckpt; iteration = ckpt.iteration;
  } else if (job.init) {
    state = { ...job.init, optimizer: fresh };
  } else {
    state = {
      params: initParameters(spec, pLayout, job.replicate, h.model.batchnorm_init as BatchnormInit),
      stats: initRunningStats(sLayout), optimizer: fresh,
    };
  }
  const mask = job.mask ?? defaultMask(pLayout);

  let diverged: string | null = null;
  let epochLoss = 0, epochCorrect = 0, epochSeen = 0;
  let lastReport = Date.now(), reportImages = 0;
  const onMetrics = (it: number, l: number, correct: number) => {
    if (!Number.isFinite(l) && !diverged) diverged = `loss is ${l} at iteration ${it}`;
    epochLoss += l; epochCorrect += correct; epochSeen += h.dataset.batch_size;
    metrics.push({ name: 'train_loss', iteration: it, value: l });
    const now = Date.now();
    if (now - lastReport > 1000 || it === total - 1) {
      sink({ type: 'step', run: job.run, iteration: it + 1, totalIterations: total, loss: l, accuracy: correct / h.dataset.batch_size,
        lr: step.learningRate(it), imagesPerSecond: (reportImages * 1000) / Math.max(1, now - lastReport) });
      lastReport = now; reportImages = 0;
    }
  };
  // Loss snapshots arrive up to RING steps late, so a NaN stops the run within RING iterations.
  const step = new TrainStep(gpu, { hparams: h, data: job.data, replicate: job.replicate, spec, onMetrics, ring: RING });
  try {
    step.load(state, mask); // zeroes the pruned weights of state.params too: telemetry's start is what trains
    sink({ type: 'start', run: job.run, model: spec.name, dataset: h.dataset.dataset_name, adapter: gpu.adapter.shortName, totalIterations: total, startIteration: iteration, resumed: !!ckpt });

    const meta = { model: spec.name, adapter: gpu.adapter.description };
    const saveWeights = async (it: number) => {
      const s = finite(await step.weights());
      const bytes = encodeWeights(pLayout, sLayout, s, { ...meta, iteration: String(it) });
      await storage.write(path(stepName(it)), bytes);
      return { s, sha256: sha256Hex(bytes) };
    };
    if (iteration === start && !ckpt) await saveWeights(start);

    const evaluator = step.own(() => new Evaluator(gpu, step.state, step.data, h.dataset.batch_size));

    // Telemetry against the run's starting weights (re-read from its start file after a resume).
    let telemetry: { t: Telemetry; channel: number; at: Set<number> } | null = null;
    if (job.telemetry) {
      const o = job.telemetry;
      const startState = ckpt ? await readWeights(start) : state; // checked before resuming
      if (!startState) throw new UserError(`${path(stepName(start))} is missing: telemetry needs the run's starting weights; delete ${job.dir} to rerun`);
      const t = step.own(() => new Telemetry(gpu, step.state, startState.params, mask, o, job.replicate));
      const channel = step.addChannel(t.output, (it, v) => { metrics.push(...t.rows(it + 1, v)); });
      telemetry = { t, channel, at: telemetrySchedule(o, start, total, perEpoch) };
    }

    const evaluate = async (it: number) => {
      const e0 = Date.now();
      const r = await evaluator.run();
      metrics.push({ name: 'test_loss', iteration: it, value: r.loss }, { name: 'test_accuracy', iteration: it, value: r.accuracy });
      sink({ type: 'eval', run: job.run, iteration: it, testLoss: r.loss, testAccuracy: r.accuracy, seconds: (Date.now() - e0) / 1000, elapsedSeconds: (Date.now() - t0) / 1000 });
      return r.accuracy;
    };
    // The latest evaluation, restored with the metrics on a resume (a run killed after its last
    // evaluation must still report it, not null).
    let testAccuracy: number | null = lastRow(metrics, (r) => r.name === 'test_accuracy')?.value ?? null;
    if (iteration === start && !ckpt && !job.evaluateOnlyAtEnd) testAccuracy = await evaluate(iteration);

    while (iteration < total) {
      const epochEnd = Math.min((Math.floor(iteration / perEpoch) + 1) * perEpoch, total);
      epochLoss = 0; epochCorrect = 0; epochSeen = 0;
      for (; iteration < epochEnd; iteration++) {
        if (diverged) break;
        if (job.control?.interrupted) await job.control.wait();
        const extra = telemetry?.at.has(iteration + 1) ? { dispatches: telemetry.t.dispatches, channel: telemetry.channel } : null;
        await step.step(iteration, extra);
        reportImages += h.dataset.batch_size;
        if (saveAt.has(iteration + 1) && iteration + 1 < total) { await step.flush(); await saveWeights(iteration + 1); }
      }
      await step.flush();
      if (diverged) throw new DivergenceError(`training diverged: ${diverged}; no checkpoint was written after it. Lower --lr or check the data.`);
      metrics.push({ name: 'train_epoch_loss', iteration, value: epochLoss / Math.max(1, epochSeen / h.dataset.batch_size) },
        { name: 'train_accuracy', iteration, value: epochCorrect / Math.max(1, epochSeen) });
      if (!job.evaluateOnlyAtEnd || iteration === total) testAccuracy = await evaluate(iteration);
      const s = await step.save();
      finite(s);
      await storage.write(path('metrics.csv'), formatMetrics(metrics));
      await storage.write(path('checkpoint.safetensors'), encodeCheckpoint(pLayout, sLayout, s, iteration, meta));
      sink({ type: 'checkpoint', run: job.run, iteration });
    }

    // Only when resumed at the end from files written before the accuracy was recorded (old runs).
    if (testAccuracy === null) testAccuracy = await evaluate(total);
    const { s: final, sha256: weightsFileSha256 } = await saveWeights(total);
    const weightsHash = sha256Hex(new Uint8Array(final.params.buffer)).slice(0, 16);
    if (job.telemetry) {
      // Distances to the final weights, from the weights saved along the way (the start included).
      const saved = new Map<number, Float32Array>();
      for (const it of [start, ...finalComparisonIterations(start, total, perEpoch)]) {
        const w = await readWeights(it);
        if (w) saved.set(it, w.params);
      }
      metrics.push(...distanceToFinalRows(pLayout.layout(), saved, final.params));
    }
    await storage.write(path('metrics.csv'), formatMetrics(metrics));
    await storage.write(path('done.json'), JSON.stringify({ iteration: total, testAccuracy, weightsHash, weightsFileSha256 }) + '\n');
    sink({ type: 'done', run: job.run, iteration: total, testAccuracy, weightsHash, seconds: (Date.now() - t0) / 1000, skipped: false });
    return { final, testAccuracy, weightsHash, iterations: total, skipped: false };
  } finally {
    step.destroy();
  }
}

/** OpenLTH's name for the weights at an iteration: model_ep<E>_it<I>.safetensors. */
export function weightsFileName(iteration: number, perEpoch: number): string {
  return `model_ep${Math.floor(iteration / perEpoch)}_it${iteration % perEpoch}.safetensors`;
}

/** All ones on real elements, zero on alignment padding. */
export function defaultMask(params: Arena): Float32Array {
  const m = new Float32Array(params.elements);
  for (const { offset, shape } of params.layout()) m.fill(1, offset, offset + shape.reduce((a, b) => a * b, 1));
  return m;
}

/** Weights about to be saved must be finite: a diverged run writes no file after it. */
function finite<T extends HostState>(s: T): T {
  const p = s.params;
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(p[i]!)) throw new DivergenceError(`a parameter became ${p[i]} (element ${i}); refusing to save it. Lower --lr.`);
  }
  return s;
}

function lastRow(rows: readonly MetricRow[], pred: (r: MetricRow) => boolean): MetricRow | undefined {
  for (let i = rows.length - 1; i >= 0; i--) if (pred(rows[i]!)) return rows[i];
  return undefined;
}

/** What done.json records: the run's verdict, and the full SHA-256 of its final weights file. */
export interface DoneRecord { iteration: number; testAccuracy: number; weightsHash: string; weightsFileSha256?: string }

export function parseDone(b: Uint8Array, file: string, total: number): DoneRecord {
  let d: any;
  try { d = JSON.parse(text(b)); } catch { throw new CorruptFileError(file, 'not JSON'); }
  if (typeof d !== 'object' || d === null || d.iteration !== total || typeof d.testAccuracy !== 'number' ||
    typeof d.weightsHash !== 'string' || !/^[0-9a-f]{16}$/.test(d.weightsHash) ||
    (d.weightsFileSha256 !== undefined && !(typeof d.weightsFileSha256 === 'string' && /^[0-9a-f]{64}$/.test(d.weightsFileSha256)))) {
    throw new CorruptFileError(file, `expected {"iteration":${total},"testAccuracy":<number>,"weightsHash":<16 hex>,"weightsFileSha256":<64 hex>}`);
  }
  return d;
}

/**
 * The rows of metrics.csv a resume from the checkpoint at `at` keeps: everything the run had
 * recorded when it wrote that checkpoint. metrics.csv is written just before the checkpoint, so
 * after a kill between the two it runs one epoch ahead; those rows are recomputed, not repeated.
 * train_loss rows carry the 0-based step index (step `at` is the first one not yet taken); the
 * distances to the final weights are always recomputed at the end.
 */
export function metricsUpTo(rows: readonly MetricRow[], at: number): MetricRow[] {
  return rows.filter((r) => !/^telemetry\/(l2|cosine)_to_final\//.test(r.name) && (r.name === 'train_loss' ? r.iteration < at : r.iteration <= at));
}

/**
 * The final weights of a run whose done.json says it finished, when every file its result rests
 * on checks out: the final weights (their hash equal to done.json's; a final file without a
 * valid sidecar is accepted only when its SHA-256 equals done.json's weightsFileSha256, and then
 * gets its sidecar back), metrics.csv ending in done.json's accuracy, and the weights saved along
 * the way. Null (after saying why) when the run must be recomputed.
 */
async function finishedRun(storage: RunStorage, sink: EventSink, run: string, path: (f: string) => string, done: DoneRecord, total: number,
  saved: number[], decode: (it: number, b: Uint8Array) => HostState, stepName: (it: number) => string, checkpoint: () => Promise<unknown>): Promise<HostState | null> {
  const log = (message: string) => sink({ type: 'log', run, message });
  const finalPath = path(stepName(total));
  let final: HostState | null = null;
  try {
    const b = await storage.read(finalPath);
    if (b) final = decode(total, b);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    if (e instanceof UnverifiedFileError && done.weightsFileSha256 === sha256Hex(e.bytes)) {
      final = decode(total, e.bytes);
      await storage.write(finalPath, e.bytes);
      log(`${e.message}; its SHA-256 matches done.json's weightsFileSha256, so it was kept and its .sha256 rewritten`);
    } else if (e instanceof UnverifiedFileError) {
      log(`${e.message} and done.json records no matching weightsFileSha256 — not using ${finalPath}; recomputing`);
    } else {
      log(`${e.message} — discarding ${finalPath} and recomputing`);
      await storage.remove(finalPath);
    }
  }
  if (!final) { log(`${finalPath} cannot be used; recomputing the run`); return null; }
  if (sha256Hex(new Uint8Array(final.params.buffer)).slice(0, 16) !== done.weightsHash) {
    log(`${finalPath} does not hold the weights done.json records (weightsHash ${done.weightsHash}); recomputing the run`);
    return null;
  }
  const metrics = await readOrDiscard(storage, path('metrics.csv'), sink, run, (b) => parseMetrics(text(b), path('metrics.csv')));
  if (!metrics || lastRow(metrics, (r) => r.name === 'test_accuracy' && r.iteration === total)?.value !== done.testAccuracy) {
    log(`${path('metrics.csv')} ${metrics ? 'does not end in the accuracy done.json records' : 'cannot be used'}; recomputing the run`);
    return null;
  }
  for (const it of saved) {
    if (!(await readOrDiscard(storage, path(stepName(it)), sink, run, (b) => decode(it, b)))) {
      log(`${path(stepName(it))} cannot be used; recomputing the run`);
      return null;
    }
  }
  // A finished run never reads its checkpoint again (nothing rewrites it), but a corrupt or
  // unverified one is not left lying there.
  await checkpoint();
  return final;
}

/**
 * Reads and decodes a file of the run folder. A corrupt one (failed checksum, lying header,
 * non-finite values) is reported, removed and treated as missing, so its stage is recomputed —
 * never silently used. An unverified one (sidecar missing or malformed: not proof of corruption)
 * is reported and treated as missing but left in place, to be overwritten by the recomputation —
 * unless `removeUnverified` (a file nothing will rewrite).
 */
export async function readOrDiscard<T>(storage: RunStorage, p: string, sink: EventSink, run: string, decode: (b: Uint8Array) => T,
  removeUnverified = false): Promise<T | null> {
  try {
    const b = await storage.read(p);
    return b ? decode(b) : null;
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    const keep = e instanceof UnverifiedFileError && !removeUnverified;
    sink({ type: 'log', run, message: `${e.message} — ${keep ? 'not using' : 'discarding'} ${p} and recomputing` });
    if (!keep) await storage.remove(p);
    return null;
  }
}
