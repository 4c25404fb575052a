// Finding dataset files on disk and reading them (the Node side of src/data). A dataset is
// looked for under each data root — --data-dir, then $EARLYPHASE_DATA, then OpenLTH's default
// ~/open_lth_datasets — in the layouts people already have: a plain folder of files, our
// <root>/<name>/ folder, and torchvision's <root>/<name>/MNIST/raw/ as OpenLTH downloads it.
// Fashion-MNIST is also found where Debian's dataset-fashion-mnist package installs it.
// Files may be raw or gzip-compressed, whatever their name says: gzip is detected by its magic.
import { UserError } from '../src/errors.ts';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, cifarDataset } from '../src/data/cifar.ts';
import { DataFormatError, type DatasetSplits } from '../src/data/dataset.ts';
import { idxDataset } from '../src/data/idx.ts';
import { SYNTHETIC_DEFAULTS, syntheticSplits, type SyntheticSpec } from '../src/data/synthetic.ts';

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

export interface DatasetFiles {
  name: Exclude<DatasetName, 'synthetic'>;
  dir: string;
  /** Absolute paths. IDX: [images, labels]; CIFAR-10: the batch files in order. */
  train: string[];
  test: string[];
}

const IDX_TRAIN = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'];
const IDX_TEST = ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

interface Layout {
  /** Sub-folders of each root, most specific first (so <root>/mnist/ wins over <root> itself). */
  subdirs: string[];
  train: string[];
  test: string[];
  howToGet: string;
}

const LAYOUTS: Record<DatasetFiles['name'], Layout> = {
  mnist: {
    subdirs: ['mnist/MNIST/raw', 'mnist', 'MNIST/raw', ''],
    train: IDX_TRAIN, test: IDX_TEST,
    howToGet: 'MNIST is not shipped with earlyphase: download the four IDX files (train-images-idx3-ubyte.gz, ' +
      'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, from an MNIST mirror) into ' +
      '<root>/mnist/ and pass --data-dir=<root> or set EARLYPHASE_DATA=<root>.',
  },
  fashion_mnist: {
    subdirs: ['fashion_mnist/FashionMNIST/raw', 'fashion_mnist', 'fashion-mnist', 'FashionMNIST/raw', ''],
    train: IDX_TRAIN, test: IDX_TEST,
    howToGet: 'Install the Debian package dataset-fashion-mnist (sudo apt install dataset-fashion-mnist; it puts the files in ' +
      `${FASHION_MNIST_SYSTEM_DIR}), or put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, ` +
      't10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into <root>/fashion_mnist/ and pass --data-dir=<root>.',
  },
  cifar10: {
    subdirs: ['cifar10/cifar-10-batches-bin', 'cifar-10-batches-bin', 'cifar10', ''],
    train: CIFAR10_TRAIN_FILES, test: CIFAR10_TEST_FILES,
    howToGet: 'CIFAR-10 is not shipped with earlyphase: download the binary version (cifar-10-binary.tar.gz, not the Python ' +
      'one) from https://www.cs.toronto.edu/~kriz/cifar.html and extract it with `tar xzf cifar-10-binary.tar.gz -C <root>/cifar10`, ' +
      'giving <root>/cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin; then pass --data-dir=<root> or set EARLYPHASE_DATA=<root>.',
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

/** Every folder searched for `name`, in order. */
export function candidateDirs(name: DatasetFiles['name'], opts: LocateOptions = {}): string[] {
  const env = opts.env ?? process.env;
  const roots = [opts.dataDir, env.EARLYPHASE_DATA, ...(opts.fallbackRoots ?? [join(homedir(), 'open_lth_datasets')])]
    .filter((r): r is string => !!r);
  const system = opts.systemDirs ?? (name === 'fashion_mnist' ? [FASHION_MNIST_SYSTEM_DIR] : []);
  const dirs = roots.flatMap((r) => LAYOUTS[name].subdirs.map((s) => resolve(r, s)));
  return [...new Set([...dirs, ...system.map((d) => resolve(d))])];
}

/** Finds the first folder holding every file of the dataset, or throws DatasetNotFoundError saying where it looked. */
export function locateDataset(name: string, opts: LocateOptions = {}): DatasetFiles {
  const ds = checkName(name);
  if (ds === 'synthetic') throw new DatasetNotFoundError('the synthetic dataset has no files; use loadDataset("synthetic")');
  const layout = LAYOUTS[ds];
  const dirs = candidateDirs(ds, opts);
  const partial: string[] = [];
  const hints: string[] = [];
  for (const dir of dirs) {
    const find = (f: string) => variants(f).map((v) => join(dir, v)).find(isFile);
    const train = layout.train.map(find), test = layout.test.map(find);
    const all = [...train, ...test];
    if (all.every((p) => p !== undefined)) return { name: ds, dir, train: train as string[], test: test as string[] };
    const missing = [...layout.train, ...layout.test].filter((_, i) => all[i] === undefined);
    if (missing.length < all.length) partial.push(`${dir} has some of the files but not ${missing.join(', ')} (or .gz)`);
    if (ds === 'cifar10') hints.push(...cifarHints(dir));
  }
  const env = opts.env ?? process.env;
  const lines = [
    `dataset "${ds}" not found${opts.dataDir || env.EARLYPHASE_DATA ? '' : ' (no --data-dir given and EARLYPHASE_DATA is not set)'}.`,
    ...partial, ...hints,
    `Looked for ${[...layout.train, ...layout.test].join(', ')} (each also as .gz) in:`,
    ...dirs.map((d) => `  ${d}`),
    layout.howToGet,
  ];
  throw new DatasetNotFoundError(lines.join('\n'));
}

/** Common near-misses for CIFAR-10: the Python-pickle download, or the binary archive not yet extracted. */
function cifarHints(dir: string): string[] {
  const hints: string[] = [];
  const py = join(dir, 'cifar-10-batches-py');
  if (existsSync(py)) hints.push(`${py} is the Python (pickle) version of CIFAR-10; earlyphase reads the binary version (cifar-10-batches-bin).`);
  const tar = join(dir, 'cifar-10-binary.tar.gz');
  if (isFile(tar)) hints.push(`${tar} is not extracted yet: run \`tar xzf ${tar} -C ${dir}\`.`);
  return hints;
}

function checkName(name: string): DatasetName {
  if ((DATASET_NAMES as readonly string[]).includes(name)) return name as DatasetName;
  throw new DatasetNotFoundError(`unknown dataset "${name}"; expected one of ${DATASET_NAMES.join(', ')}`);
}

const gunzipAsync = promisify(gunzip);

/** Reads a file, gunzipping it when it starts with the gzip magic (1f 8b) whatever its name. */
export async function readMaybeGzip(path: string): Promise<Uint8Array> {
  const raw = await readFile(path);
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  try {
    const out = await gunzipAsync(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    throw new DataFormatError(`${path}: corrupt gzip data (${(e as Error).message}); download the file again`);
  }
}

export interface LoadOptions extends LocateOptions {
  /** Overrides of SYNTHETIC_DEFAULTS for the synthetic dataset. */
  synthetic?: Partial<SyntheticSpec>;
}

/** Locates, reads and parses both splits of a dataset. */
export async function loadDataset(name: string, opts: LoadOptions = {}): Promise<DatasetSplits> {
  if (checkName(name) === 'synthetic') return syntheticSplits({ ...SYNTHETIC_DEFAULTS, ...opts.synthetic });
  const files = locateDataset(name, opts);
  const read = (paths: string[]) => Promise.all(paths.map(async (p) => ({ name: p, bytes: await readMaybeGzip(p) })));
  const [train, test] = await Promise.all([read(files.train), read(files.test)]);
  if (files.name === 'cifar10') {
    return { train: cifarDataset('cifar10/train', train), test: cifarDataset('cifar10/test', test) };
  }
  const idx = (split: string, [images, labels]: { name: string; bytes: Uint8Array }[]) =>
    idxDataset({ name: `${files.name}/${split}`, images: images!, labels: labels! });
  return { train: idx('train', train), test: idx('test', test) };
}
