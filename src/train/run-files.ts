// The files of a run folder and the rules for trusting them: weights file names, done.json, the
// metrics a resume keeps, and reading a file that may be corrupt (removed and recomputed) or
// unverified (kept, not used). The trainer (src/train/trainer.ts, src/train/run-open.ts) and the
// lottery's trunk readers go through here.
import { UserError } from '../errors.ts';
import type { Arena } from '../gpu/tensor.ts';
import { parseMetrics, type MetricRow } from './metrics.ts';
import type { HostState } from './checkpoint.ts';
import { CorruptFileError, UnverifiedFileError, text, type RunStorage } from './storage.ts';
import type { EventSink } from './events.ts';
import { sha256Hex } from '../io/digest.ts';

export class DivergenceError extends UserError {
  override name = 'DivergenceError';
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
export function finite<T extends HostState>(s: T): T {
  const p = s.params;
  for (let i = 0; i < p.length; i++) {
    if (!Number.isFinite(p[i]!)) throw new DivergenceError(`a parameter became ${p[i]} (element ${i}); refusing to save it. Lower --lr.`);
  }
  return s;
}

export function lastRow(rows: readonly MetricRow[], pred: (r: MetricRow) => boolean): MetricRow | undefined {
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
export async function finishedRun(storage: RunStorage, sink: EventSink, run: string, path: (f: string) => string, done: DoneRecord, total: number,
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
