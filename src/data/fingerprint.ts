// Which data a dataset was read from: its files (role, path, SHA-256 of the bytes parsed) and a
// fingerprint over them. Run folders record it (src/train/data-record.ts).
import { canonicalJSON, sha256Hex } from '../io/digest.ts';

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

export function dataSource(dataset: string, files: DataFile[], spec?: unknown): DataSource {
  const content = canonicalJSON({ dataset, files: files.map((f) => [f.role, f.sha256]), spec: spec ?? null });
  return { dataset, files, ...(spec === undefined ? {} : { spec }), fingerprint: sha256Hex(content) };
}

/** One line: the dataset, its folder's files and the fingerprint's first digits (what every run prints). */
export function describeSource(s: DataSource): string {
  const what = s.files.length ? s.files.map((f) => f.path).join(', ') : `generated (${canonicalJSON(s.spec ?? null)})`;
  return `data: ${s.dataset} from ${what} (fingerprint ${s.fingerprint.slice(0, 12)})`;
}
