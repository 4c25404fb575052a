// Finding dataset files on disk and reading them (the Node side of src/data). A data location
// the user names — --data-dir, else $EARLYPHASE_DATA — is the only place searched: one that does
// not exist or lacks the dataset is an error, never a quiet fallback to other files. With
// neither, OpenLTH's default ~/open_lth_datasets is searched, and for Fashion-MNIST the folder
// Debian's dataset-fashion-mnist package installs. Inside a root the layouts people already
// have are found: a plain folder of files, our <root>/<name>/ folder, and torchvision's
// <root>/<name>/MNIST/raw/ as OpenLTH downloads it. CIFAR-10 comes in two forms: the binary
// version (cifar-10-batches-bin) and the Python-pickle one torchvision and OpenLTH download
// (<root>/cifar10/cifar-10-batches-py); the binary one wins where both are present.
// Files may be raw or gzip-compressed, whatever their name says: gzip is detected by its magic,
// and a gzip stream is inflated only up to the size the file's own header declares (src/data/bounded.ts).
import { UserError } from '../../src/errors.ts';
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createGunzip } from 'node:zlib';
import { CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, CIFAR_PIXELS, CIFAR_RECORD, cifarDataset, parseCifarBatch } from '../../src/data/cifar.ts';
import { CIFAR10_PICKLE_TEST_FILES, CIFAR10_PICKLE_TRAIN_FILES, parseCifarPickleBatch } from '../../src/data/cifar-pickle.ts';
import { DataFormatError, makeSplits, type DatasetSplits } from '../../src/data/dataset.ts';
import { dataSource, describeSource, type DataFile } from '../../src/data/fingerprint.ts';
import { BoundedCollector, idxBound, type SizeBound } from '../../src/data/bounded.ts';
import { IDX_DATASET_SHAPES, idxDataset } from '../../src/data/idx.ts';

export { idxBound, MAX_DATA_FILE_BYTES, type SizeBound } from '../../src/data/bounded.ts';
import { SYNTHETIC_DEFAULTS, syntheticSplits, type SyntheticSpec } from '../../src/data/synthetic.ts';

export const DATASET_NAMES = ['mnist', 'fashion_mnist', 'cifar10', 'synthetic'] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';

/** The dataset's files are not where we looked; the message lists every place and how to get them. */
export class DatasetNotFoundError extends UserError {
  override name = 'DatasetNotFoundError';
}

export interface LocateOptions {
  /** --data-dir. */
  dataDir?: string;
  /** Defaults to process.env; EARLYPHASE_DATA is read from it. */
  env?: Record<string, string | undefined>;
  /** Roots searched after dataDir and EARLYPHASE_DATA; default [~/open_lth_datasets]. */
  fallbackRoots?: string[];
  /** Folders searched last as-is; default [FASHION_MNIST_SYSTEM_DIR] for fashion_mnist, none otherwise. */
  systemDirs?: string[];
}

/** How a dataset's files are encoded: MNIST-style IDX, or one of CIFAR-10's two releases. */
export type DataFormat = 'idx' | 'cifar-binary' | 'cifar-pickle';

export interface DatasetFiles {
  name: Exclude<DatasetName, 'synthetic'>;
  dir: string;
  format: DataFormat;
  /** Absolute paths. IDX: [images, labels]; CIFAR-10: the batch files in order. */
  train: string[];
  test: string[];
}

const IDX_TRAIN = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'];
const IDX_TEST = ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** One form of a dataset on disk: the folders it may be in and its files. */
interface Form {
  /** Sub-folders of each root, most specific first (so <root>/mnist/ wins over <root> itself). */
  subdirs: string[];
  train: string[];
  test: string[];
  format: DataFormat;
}

interface Layout {
  /** Searched in order, every root for the first form before any root for the next. */
  forms: Form[];
  howToGet: string;
}

const LAYOUTS: Record<DatasetFiles['name'], Layout> = {
  mnist: {
    forms: [{ subdirs: ['mnist/MNIST/raw', 'mnist', 'MNIST/raw', ''], train: IDX_TRAIN, test: IDX_TEST, format: 'idx' }],
    howToGet: 'MNIST is not shipped with earlyphase: download the four IDX files (train-images-idx3-ubyte.gz, ' +
      'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from an MNIST mirror) into ' +
      '<root>/mnist/ and pass --data-dir=<root> or set EARLYPHASE_DATA=<root>.',
  },
  fashion_mnist: {
    forms: [{ subdirs: ['fashion_mnist/FashionMNIST/raw', 'fashion_mnist', 'fashion-mnist', 'FashionMNIST/raw', ''], train: IDX_TRAIN, test: IDX_TEST, format: 'idx' }],
    howToGet: 'Install the Debian package dataset-fashion-mnist (sudo apt install dataset-fashion-mnist; it puts the files in ' +
      `${FASHION_MNIST_SYSTEM_DIR}), or put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, ` +
      't10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into <root>/fashion_mnist/ and pass --data-dir=<root>.',
  },
  cifar10: {
    forms: [
      { subdirs: ['cifar10/cifar-10-batches-bin', 'cifar-10-batches-bin', 'cifar10', ''], train: CIFAR10_TRAIN_FILES, test: CIFAR10_TEST_FILES, format: 'cifar-binary' },
      // Only in a folder of this name: its files have no extension, so the name says what they are.
      { subdirs: ['cifar10/cifar-10-batches-py', 'cifar-10-batches-py'], train: CIFAR10_PICKLE_TRAIN_FILES, test: CIFAR10_PICKLE_TEST_FILES, format: 'cifar-pickle' },
    ],
    howToGet: 'CIFAR-10 is not shipped with earlyphase: run `earlyphase data fetch cifar10`, or download the binary version ' +
      '(cifar-10-binary.tar.gz) or the Python version (cifar-10-python.tar.gz, what torchvision downloads) from ' +
      'https://www.cs.toronto.edu/~kriz/cifar.html and extract it with `tar xzf <archive> -C <root>/cifar10`, giving ' +
      '<root>/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin or <root>/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch}; ' +
      'then pass --data-dir=<root> or set EARLYPHASE_DATA=<root>.',
  },
};

/** The names a file may have on disk: as published, gzipped, and the dotted MNIST variant (train-images.idx3-ubyte). */
function variants(file: string): string[] {
  const dotted = file.replace(/-(idx\d)-/, '.$1-');
  return [...new Set([file, `${file}.gz`, dotted, `${dotted}.gz`])];
}

function isFile(p: string): boolean {
  try { return statSync(p).isFile(); } catch { return false; }
}

/** The data location the user named, if any: --data-dir wins over EARLYPHASE_DATA. */
function namedRoot(opts: LocateOptions): { root: string; by: string } | undefined {
  const env = opts.env ?? process.env;
  if (opts.dataDir) return { root: resolve(opts.dataDir), by: '--data-dir' };
  if (env.EARLYPHASE_DATA) return { root: resolve(env.EARLYPHASE_DATA), by: 'EARLYPHASE_DATA' };
  return undefined;
}

/** Every folder searched for `name`, with the form looked for there, in order: only inside a named location when there is one. */
function candidates(name: DatasetFiles['name'], opts: LocateOptions): { dir: string; form: Form }[] {
  const named = namedRoot(opts);
  const roots = named ? [named.root] : (opts.fallbackRoots ?? [join(homedir(), 'open_lth_datasets')]);
  const system = named ? [] : opts.systemDirs ?? (name === 'fashion_mnist' ? [FASHION_MNIST_SYSTEM_DIR] : []);
  return LAYOUTS[name].forms.flatMap((form, i) => {
    // System folders hold the first (published) form only.
    const dirs = [...roots.flatMap((r) => form.subdirs.map((s) => resolve(r, s))), ...(i === 0 ? system.map((d) => resolve(d)) : [])];
    return [...new Set(dirs)].map((dir) => ({ dir, form }));
  });
}

/** Every folder searched for `name`, in order. */
export function candidateDirs(name: DatasetFiles['name'], opts: LocateOptions = {}): string[] {
  return [...new Set(candidates(name, opts).map((c) => c.dir))];
}

/** Finds the first folder holding every file of the dataset, or throws DatasetNotFoundError saying where it looked. */
export function locateDataset(name: string, opts: LocateOptions = {}): DatasetFiles {
  const ds = checkName(name);
  if (ds === 'synthetic') throw new DatasetNotFoundError('the synthetic dataset has no files; use loadDataset("synthetic")');
  const layout = LAYOUTS[ds];
  const named = namedRoot(opts);
  if (named && !statSync(named.root, { throwIfNoEntry: false })?.isDirectory()) {
    throw new DatasetNotFoundError(`${named.by} ${named.root} ${existsSync(named.root) ? 'is not a folder' : 'does not exist'}; ` +
      `name the folder that holds the ${ds} files${named.by === '--data-dir' ? '' : ', or unset EARLYPHASE_DATA to use the default locations'}`);
  }
  const searched = candidates(ds, opts);
  const partial: string[] = [];
  const hints: string[] = [];
  for (const { dir, form } of searched) {
    const find = (f: string) => variants(f).map((v) => join(dir, v)).find(isFile);
    const train = form.train.map(find), test = form.test.map(find);
    const all = [...train, ...test];
    if (all.every((p) => p !== undefined)) return { name: ds, dir, format: form.format, train: train as string[], test: test as string[] };
    const missing = [...form.train, ...form.test].filter((_, i) => all[i] === undefined);
    if (missing.length < all.length) partial.push(`${dir} has some of the files but not ${missing.join(', ')} (or .gz)`);
    if (ds === 'cifar10' && form.format === 'cifar-binary') hints.push(...cifarHints(dir));
  }
  const lines = [
    named
      ? `dataset "${ds}" not found in ${named.by} ${named.root} (a data location you name is the only one searched).`
      : `dataset "${ds}" not found (no --data-dir given and EARLYPHASE_DATA is not set).`,
    ...partial, ...hints,
    ...layout.forms.flatMap((form, i) => [
      `${i === 0 ? 'Looked for' : 'and for'} ${[...form.train, ...form.test].join(', ')} (each also as .gz) in:`,
      ...searched.filter((c) => c.form === form).map((c) => `  ${c.dir}`),
    ]),
    layout.howToGet,
  ];
  throw new DatasetNotFoundError(lines.join('\n'));
}

/** A common near-miss for CIFAR-10: an archive downloaded but not yet extracted. */
function cifarHints(dir: string): string[] {
  return ['cifar-10-binary.tar.gz', 'cifar-10-python.tar.gz'].map((a) => join(dir, a)).filter(isFile)
    .map((tar) => `${tar} is not extracted yet: run \`tar xzf ${tar} -C ${dir}\`.`);
}

function checkName(name: string): DatasetName {
  if ((DATASET_NAMES as readonly string[]).includes(name)) return name as DatasetName;
  throw new DatasetNotFoundError(`unknown dataset "${name}"; expected one of ${DATASET_NAMES.join(', ')}`);
}

/** A CIFAR-10 batch: 10,000 records, as published. */
const CIFAR_BATCH_BOUND: SizeBound = { headBytes: 0, limit: () => ({ bytes: 10_000 * CIFAR_RECORD, why: 'a CIFAR-10 batch (10,000 records) holds' }) };
/** A pickled batch: 10,000 images plus their labels and file names (~0.3 MB in the published files; 2 MiB allowed). */
const CIFAR_PICKLE_BOUND: SizeBound = {
  headBytes: 0, limit: () => ({ bytes: 10_000 * CIFAR_PIXELS + 2 * 2 ** 20, why: 'a CIFAR-10 Python batch (10,000 images, labels, file names) holds' }),
};

/** Reads a file, gunzipping it when it starts with the gzip magic (1f 8b) whatever its name, never past `bound`. */
export async function readMaybeGzip(path: string, bound?: SizeBound): Promise<Uint8Array> {
  const raw = await readFile(path);
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return inflateBounded(raw, path, bound);
}

/** Inflates a gzip stream chunk by chunk and stops (destroying the stream) as soon as it passes the bound. */
function inflateBounded(raw: Uint8Array, path: string, bound: SizeBound | undefined): Promise<Uint8Array> {
  return new Promise((resolveBytes, reject) => {
    const z = createGunzip();
    const out = new BoundedCollector(path, bound);
    let failed = false;
    const fail = (e: Error) => { if (failed) return; failed = true; z.destroy(); reject(e); };
    z.on('data', (c: Buffer) => {
      if (failed) return;
      // A plain view, not the Buffer: Buffer#slice shares memory, and the parsers rely on slice() copying.
      try { out.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength)); } catch (e) { fail(e as Error); }
    });
    z.on('error', (e) => fail(new DataFormatError(`${path}: corrupt gzip data (${e.message}); download the file again`)));
    z.on('end', () => { if (!failed) resolveBytes(out.result()); });
    z.end(raw);
  });
}

export interface LoadOptions extends LocateOptions {
  /** Overrides of SYNTHETIC_DEFAULTS for the synthetic dataset. */
  synthetic?: Partial<SyntheticSpec>;
  /** Told which files were read (one line; the commands print it on stderr). */
  log?: (line: string) => void;
}

/**
 * Locates, reads and parses both splits of a dataset, and says which files: the result's
 * `source` lists them with their contents' SHA-256 and a fingerprint (see src/data/fingerprint.ts).
 */
export async function loadDataset(name: string, opts: LoadOptions = {}): Promise<DatasetSplits> {
  if (checkName(name) === 'synthetic') {
    const spec = { ...SYNTHETIC_DEFAULTS, ...opts.synthetic };
    const source = dataSource('synthetic', [], spec);
    opts.log?.(describeSource(source));
    return { ...syntheticSplits(spec), source };
  }
  const files = locateDataset(name, opts);
  const cifar = files.format !== 'idx', pickle = files.format === 'cifar-pickle';
  const bounds = (n: number) => (cifar ? new Array<SizeBound>(n).fill(pickle ? CIFAR_PICKLE_BOUND : CIFAR_BATCH_BOUND) : [idxBound(3), idxBound(1)]);
  const read = (paths: string[]) => {
    const b = bounds(paths.length);
    return Promise.all(paths.map(async (p, i) => ({ name: p, bytes: await readMaybeGzip(p, b[i]) })));
  };
  const [train, test] = await Promise.all([read(files.train), read(files.test)]);
  const role = (split: string, i: number, p: string) => (cifar ? `${split}/${basename(p).replace(/\.gz$/, '')}` : `${split}-${i === 0 ? 'images' : 'labels'}`);
  const record: DataFile[] = [
    ...train.map((f, i) => ({ role: role('train', i, f.name), path: f.name, sha256: createHash('sha256').update(f.bytes).digest('hex') })),
    ...test.map((f, i) => ({ role: role('test', i, f.name), path: f.name, sha256: createHash('sha256').update(f.bytes).digest('hex') })),
  ];
  const source = dataSource(files.name, record);
  opts.log?.(describeSource(source));
  const splitNames = { train: files.train.join(', '), test: files.test.join(', ') };
  if (cifar) {
    const parse = pickle ? parseCifarPickleBatch : parseCifarBatch;
    return { ...makeSplits(cifarDataset('cifar10/train', train, parse), cifarDataset('cifar10/test', test, parse), splitNames), source };
  }
  const shape = IDX_DATASET_SHAPES[files.name];
  const idx = (split: string, [images, labels]: { name: string; bytes: Uint8Array }[]) =>
    idxDataset({ name: `${files.name}/${split}`, images: images!, labels: labels!, shape });
  return { ...makeSplits(idx('train', train), idx('test', test), { train: files.train[0]!, test: files.test[0]! }), source };
}
