// The in-memory dataset every reader produces and the trainer consumes. Pixels stay as the
// uint8 bytes the files hold (N×C×H×W, channel-planar like PyTorch) so the whole set is one
// small upload; normalisation and augmentation happen on the GPU per batch.
import { UserError } from '../errors.ts';
import type { DataSource } from './fingerprint.ts';

/** A dataset file (IDX, CIFAR-10 binary, …) is malformed; the message names the file and the fault. */
export class DataFormatError extends UserError {
  override name = 'DataFormatError';
}

export interface Dataset {
  /** Human-readable origin, e.g. "fashion_mnist/train"; used in error messages and logs. */
  readonly name: string;
  /** N×C×H×W bytes, row-major, channel-planar. */
  readonly images: Uint8Array;
  /** One class index per example, each < classes. */
  readonly labels: Uint8Array;
  readonly count: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: number;
}

/** A train/test pair as the experiments use it (OpenLTH has no validation split). */
export interface DatasetSplits {
  readonly train: Dataset;
  readonly test: Dataset;
  /** The files read (with their contents' fingerprint); recorded in every run folder trained on them. */
  readonly source?: DataSource;
}

/**
 * Builds a Dataset after checking that the byte counts agree with the shape and that every
 * label is a valid class — so a bad file fails here, once, and not as a wrong gather on the GPU.
 */
export function makeDataset(d: Dataset): Dataset {
  const dims = { count: d.count, channels: d.channels, height: d.height, width: d.width, classes: d.classes };
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isSafeInteger(v) || v < 0 || (k !== 'count' && v === 0)) {
      throw new DataFormatError(`${d.name}: ${k} must be a ${k === 'count' ? 'non-negative' : 'positive'} integer, got ${v}`);
    }
  }
  if (d.classes > 256) throw new DataFormatError(`${d.name}: classes must be ≤ 256 (labels are bytes), got ${d.classes}`);
  const want = d.count * d.channels * d.height * d.width;
  if (d.images.length !== want) {
    throw new DataFormatError(`${d.name}: images hold ${d.images.length} bytes, expected ${want} ` +
      `(${d.count}×${d.channels}×${d.height}×${d.width})`);
  }
  if (d.labels.length !== d.count) {
    throw new DataFormatError(`${d.name}: ${d.labels.length} labels for ${d.count} images; the counts must match`);
  }
  const bad = d.labels.findIndex((l) => l >= d.classes);
  if (bad >= 0) {
    throw new DataFormatError(`${d.name}: label ${d.labels[bad]} at example ${bad} is not a class (expected 0..${d.classes - 1})`);
  }
  return d;
}

/**
 * A train/test pair, refused unless both hold the same kind of example: a model trained on one
 * image size and tested on another gives a meaningless accuracy (a 256×14×56 test set ran
 * against 28×28 training to 23%). `files` names each split's source in the message.
 */
export function makeSplits(train: Dataset, test: Dataset, files: { train: string; test: string }): DatasetSplits {
  const geometry = (d: Dataset) => `${d.channels}×${d.height}×${d.width}, ${d.classes} classes`;
  if (geometry(train) !== geometry(test)) {
    throw new DataFormatError(`${files.test} holds ${geometry(test)} examples but ${files.train} holds ${geometry(train)}; ` +
      'the train and test files must come from the same dataset');
  }
  return { train, test };
}

/** Per-class example counts; used by tests and the dataset summary line. */
export function classCounts(d: Dataset): number[] {
  const counts = new Array<number>(d.classes).fill(0);
  for (const l of d.labels) counts[l]!++;
  return counts;
}
