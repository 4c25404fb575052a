// CIFAR-10 "binary version" batches: fixed 3073-byte records, one label byte then a 32×32
// image as 1024 red, 1024 green, 1024 blue bytes — already the channel-planar C×H×W layout
// the engine uses, so parsing is a strided copy. (The Python-pickle version: src/data/cifar-pickle.ts.)
import { DataFormatError, makeDataset, type Dataset } from './dataset.ts';

export const CIFAR_SIDE = 32;
export const CIFAR_PIXELS = 3 * CIFAR_SIDE * CIFAR_SIDE;
export const CIFAR_RECORD = 1 + CIFAR_PIXELS;
export const CIFAR10_CLASSES = 10;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'];
export const CIFAR10_TEST_FILES = ['test_batch.bin'];

export interface CifarBatch {
  images: Uint8Array;
  labels: Uint8Array;
}

/** Splits one batch file into images and labels; `name` is the file, quoted in every error. */
export function parseCifarBatch(bytes: Uint8Array, name: string): CifarBatch {
  if (bytes.length === 0) throw new DataFormatError(`${name}: empty CIFAR-10 batch file`);
  if (bytes.length % CIFAR_RECORD !== 0) {
    throw new DataFormatError(`${name}: ${bytes.length} bytes is not a whole number of ${CIFAR_RECORD}-byte CIFAR-10 records ` +
      `(${Math.floor(bytes.length / CIFAR_RECORD)} records + ${bytes.length % CIFAR_RECORD} bytes); ` +
      'the file is truncated or not the binary version (cifar-10-binary.tar.gz)');
  }
  const n = bytes.length / CIFAR_RECORD;
  const images = new Uint8Array(n * CIFAR_PIXELS);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const at = i * CIFAR_RECORD;
    const label = bytes[at]!;
    if (label >= CIFAR10_CLASSES) {
      throw new DataFormatError(`${name}: record ${i} (byte ${at}) has label ${label}, expected 0..${CIFAR10_CLASSES - 1}`);
    }
    labels[i] = label;
    images.set(bytes.subarray(at + 1, at + CIFAR_RECORD), i * CIFAR_PIXELS);
  }
  return { images, labels };
}

/** Concatenates batch files (in the order given) into one split; `parse` reads one file (binary by default). */
export function cifarDataset(name: string, files: { name: string; bytes: Uint8Array }[], parse: (bytes: Uint8Array, name: string) => CifarBatch = parseCifarBatch): Dataset {
  if (files.length === 0) throw new DataFormatError(`${name}: no CIFAR-10 batch files given`);
  const batches = files.map((f) => parse(f.bytes, f.name));
  const count = batches.reduce((a, b) => a + b.labels.length, 0);
  const images = new Uint8Array(count * CIFAR_PIXELS);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const b of batches) {
    images.set(b.images, at * CIFAR_PIXELS);
    labels.set(b.labels, at);
    at += b.labels.length;
  }
  return makeDataset({ name, images, labels, count, channels: 3, height: CIFAR_SIDE, width: CIFAR_SIDE, classes: CIFAR10_CLASSES });
}

/** Writes records in the binary-batch layout (tests generate small batch files with it). */
export function encodeCifarBatch(images: Uint8Array, labels: Uint8Array): Uint8Array {
  if (images.length !== labels.length * CIFAR_PIXELS) {
    throw new DataFormatError(`encodeCifarBatch: ${labels.length} labels need ${labels.length * CIFAR_PIXELS} image bytes, got ${images.length}`);
  }
  const out = new Uint8Array(labels.length * CIFAR_RECORD);
  for (let i = 0; i < labels.length; i++) {
    out[i * CIFAR_RECORD] = labels[i]!;
    out.set(images.subarray(i * CIFAR_PIXELS, (i + 1) * CIFAR_PIXELS), i * CIFAR_RECORD + 1);
  }
  return out;
}
