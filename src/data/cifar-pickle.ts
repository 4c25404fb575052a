// CIFAR-10's "Python version" (cifar-10-python.tar.gz, what torchvision downloads and OpenLTH
// reads): cifar-10-batches-py/data_batch_1…5 and test_batch, each a pickled dict whose 'data' is a
// uint8 N×3072 numpy array (each row 1024 red, 1024 green, 1024 blue bytes — the same planar
// layout as the binary version) and whose 'labels' is a list of N ints. Parsed by the bounded
// pickle reader (src/data/pickle.ts) into the same images/labels a binary batch gives.
import { CIFAR10_CLASSES, CIFAR_PIXELS, type CifarBatch } from './cifar.ts';
import { DataFormatError } from './dataset.ts';
import { describe, readPickle, type NdArray, type PyValue } from './pickle.ts';

export const CIFAR10_PICKLE_TRAIN_FILES = ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5'];
export const CIFAR10_PICKLE_TEST_FILES = ['test_batch'];

/** One pickled batch → images and labels; `name` (the file) starts every error. */
export function parseCifarPickleBatch(bytes: Uint8Array, name: string): CifarBatch {
  const fail = (what: string): never => {
    throw new DataFormatError(`${name}: ${what}; expected a CIFAR-10 Python batch (a dict with 'data', a uint8 N×${CIFAR_PIXELS} array, and 'labels', N ints 0..9)`);
  };
  if (bytes.length === 0) fail('empty file');
  const top = readPickle(bytes, name);
  if (typeof top !== 'object' || top === null || top.kind !== 'dict') return fail(`the pickle holds ${describe(top)}, not a dict`);
  const data = top.entries.get('data'), labels = top.entries.get('labels');
  if (!isArray(data)) return fail(`'data' is ${describe(data)}`);
  const [n, pixels] = data.shape;
  if (data.shape.length !== 2 || pixels !== CIFAR_PIXELS || n === undefined || n < 1) fail(`'data' has shape [${data.shape.join(', ')}]`);
  if (data.dtype !== 'u1' && data.dtype !== '|u1') fail(`'data' has dtype ${JSON.stringify(data.dtype)}, not uint8 ('u1')`);
  // Fortran order would store pixel-major; a row-major N×3072 array is what every release holds.
  if (data.fortran) fail(`'data' is in Fortran (column-major) order`);
  if (data.data!.length !== n! * CIFAR_PIXELS) fail(`'data' holds ${data.data!.length} bytes, its shape [${n}, ${CIFAR_PIXELS}] needs ${n! * CIFAR_PIXELS}`);
  const list = labelList(labels);
  if (!list) return fail(`'labels' is ${describe(labels)}, not a list of ints`);
  if (list.length !== n) fail(`'labels' has ${list.length} entries for ${n} images`);
  const out = new Uint8Array(n!);
  list.forEach((l, i) => {
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l >= CIFAR10_CLASSES) fail(`label ${i} is ${typeof l === 'number' ? l : describe(l)}, expected 0..${CIFAR10_CLASSES - 1}`);
    out[i] = l as number;
  });
  // A copy: the array's bytes are a view into the whole file, which can then be freed.
  return { images: new Uint8Array(data.data!), labels: out };
}

function isArray(v: PyValue | undefined): v is NdArray {
  return typeof v === 'object' && v !== null && v.kind === 'ndarray' && v.data !== null;
}

function labelList(v: PyValue | undefined): PyValue[] | null {
  return typeof v === 'object' && v !== null && (v.kind === 'list' || v.kind === 'tuple') ? v.items : null;
}
