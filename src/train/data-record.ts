// Which data a run was trained on. A run folder's name depends on the hyperparameters only, so
// without a record a run on other files (another --data-dir, a re-downloaded or edited file)
// would find the old folder and report its result as if it belonged to the new data. The first
// train() in a folder writes data.json (the files read and a fingerprint of their contents,
// src/data/fingerprint.ts); every later one compares and refuses a mismatch, naming both sets of files.
import { UserError } from '../errors.ts';
import type { DataSource } from '../data/fingerprint.ts';
import type { RunStorage } from './storage.ts';

/** The record file in every run folder trained on data with a known source. */
export const DATA_RECORD = 'data.json';

/**
 * Writes `<dir>/data.json` when the folder has none (a new run, or one from before the record
 * existed, which is then taken to be on this data), else refuses a run whose data differ.
 */
export async function checkDataRecord(storage: RunStorage, dir: string, source: DataSource | undefined): Promise<void> {
  if (!source) return;
  const path = `${dir}/${DATA_RECORD}`;
  const bytes = await storage.read(path);
  if (bytes === null) {
    await storage.write(path, JSON.stringify(source, null, 2) + '\n');
    return;
  }
  let old: Partial<DataSource> = {};
  try { old = JSON.parse(new TextDecoder().decode(bytes)) as Partial<DataSource>; } catch { /* fingerprint missing: refused below */ }
  if (old.fingerprint === source.fingerprint) return;
  const from = (s: Partial<DataSource>) => (s.files?.length ? s.files.map((f) => f.path).join(', ') : s.spec !== undefined ? 'generated data' : 'unknown files');
  throw new UserError(`${path}: this run folder was trained on ${old.dataset ?? '?'} from ${from(old)} ` +
    `(fingerprint ${String(old.fingerprint ?? 'missing').slice(0, 12)}), but the data read now come from ${from(source)} ` +
    `(fingerprint ${source.fingerprint.slice(0, 12)}); use the original files (--data-dir) or another --root to train on these`);
}
