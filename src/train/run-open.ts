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
// trainer.ts imports this module too; the cycle is safe because neither uses the other while loading.
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
  const h = job.hparams;
  const bad = unsupportedKnobs(h);
  if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  const spec = modelForData(h.model.model_name, job.data.train, taskClasses(h, job.data.train.classes));
  const { perEpoch, total } = iterationsFor(h, job.data.train.count);
  const start = job.startIteration ?? 0;
  if (start > total) throw new UserError(`start iteration ${start} is past the end of training (${total} iterations = ${h.training.training_steps})`);
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
      return { finished: { final, testAccuracy: done.testAccuracy, weightsHash: done.weightsHash, iterations: total, skipped: true } };
    }
    // Something the result rests on is gone: recompute, and never leave the old verdict behind meanwhile.
    await storage.remove(path('done.json'));
  }
  await storage.write(path('hparams.json'), hparamsText);

  // Initial state: a checkpoint to resume from, else the driver's weights (a rewound level, a
  // branch), else the file the hparams name by SHA-256 (--init-weights), else the seeded init.
  let metrics: MetricRow[] = [];
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
      if (ckpt.adapter && ckpt.adapter !== adapter) {
        sink({ type: 'log', run: job.run, message: `warning: resuming a checkpoint written on "${ckpt.adapter}" on "${adapter}": ` +
          'the result will not be bitwise identical to a run trained on either adapter alone' });
      }
    }
  }
  // A run that does not resume starts a fresh optimiser, as OpenLTH does for every run it trains.
  const fresh = freshOptimizerState(layout, pLayout.elements);
  let state: CheckpointState;
  if (ckpt) {
    state = ckpt;
  } else if (job.init) {
    state = { ...job.init, optimizer: fresh };
  } else if (h.model.init_weights_sha256 !== undefined) {
    state = { ...initWeightsFor(h.model.init_weights_sha256, pLayout, sLayout), optimizer: fresh };
  } else {
    state = {
      params: initParameters(spec, pLayout, job.replicate, h.model.batchnorm_init as BatchnormInit),
      stats: initRunningStats(sLayout), optimizer: fresh,
    };
  }
  const mask = job.mask ?? defaultMask(pLayout);
  return {
    run: {
      job, h, spec, pLayout, sLayout, perEpoch, total, start, iteration: ckpt ? ckpt.iteration : start, resumed: !!ckpt,
      state, mask, metrics, saveAt, saved, path, stepName, readWeights,
    },
  };
}
