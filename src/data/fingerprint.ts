// Which data a run was trained on. A run folder's name depends on the hyperparameters only, so
// without a record a run on other files (another --data-dir, a re-downloaded or edited file)
// would find the old folder and report its result as if it belonged to the new data. The first
// train() in a folder writes data.json (the files read and a fingerprint of their contents);
// every later one compares and refuses a mismatch, naming both sets of files.
import { UserError } from '../errors.ts';
import { canonicalJSON, sha256Hex } from '../train/hash.ts';
import type { RunStorage } from '../train/storage.ts';

/** One file a dataset was read from. */
export interface DataFile {
  /** train-images, train-labels, test-images, … (the file's job, so a swap of two files is a change). */
  role: string;
  /** Absolute path as read. */
  path: string;
  /** SHA-256 of the bytes parsed, i.e. after gunzip (`zcat FILE | sha256sum` for a .gz). */
  sha256: string;
}

/** Where a DatasetSplits came from; the runner's loader fills it in, a browser tab's data has none. */
export interface DataSource {
  dataset: string;
  /** Files read, in role order; empty for generated data. */
  files: DataFile[];
  /** For generated data (synthetic): the generator's settings. */
  spec?: unknown;
  /** SHA-256 over dataset, roles and contents: equal exactly when the same bytes were read for each role. */
  fingerprint: string;
}

/** The record file in every run folder trained on data with a known source. */
export const DATA_RECORD = 'data.json';

export function dataSource(dataset: string, files: DataFile[], spec?: unknown): DataSource {
  const content = canonicalJSON({ dataset, files: files.map((f) => [f.role, f.sha256]), spec: spec ?? null });
  return { dataset, files, ...(spec === undefined ? {} : { spec }), fingerprint: sha256Hex(content) };
}

/** One line: the dataset, its folder's files and the fingerprint's first digits (what every run prints). */
export function describeSource(s: DataSource): string {
  const what = s.files.length ? s.files.map((f) => f.path).join(', ') : `generated (${canonicalJSON(s.spec ?? null)})`;
  return `data: ${s.dataset} from ${what} (fingerprint ${s.fingerprint.slice(0, 12)})`;
}

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
