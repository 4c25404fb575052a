// A synthetic image dataset for tests and smoke runs: no files, any shape, deterministic from
// a seed, and learnable. Each class has a prototype made of a few low-frequency cosine waves
// per channel (smooth, so random crops and flips keep most of the signal); an example is its
// class prototype plus Gaussian pixel noise. Train and test share prototypes (they depend on
// the seed only) and differ in their noise and label order, so test accuracy is meaningful.
import { Rng } from '../rng.ts';
import { DataFormatError, makeDataset, type Dataset, type DatasetSplits } from './dataset.ts';

export interface SyntheticSpec {
  seed: number;
  trainCount: number;
  testCount: number;
  channels: number;
  height: number;
  width: number;
  classes: number;
  /** Noise standard deviation as a fraction of the 0..255 range; 0 gives the bare prototypes. */
  noise: number;
}

/** CIFAR-shaped by default so the CIFAR models run on it unchanged. */
export const SYNTHETIC_DEFAULTS: SyntheticSpec = {
  seed: 0, trainCount: 2048, testCount: 512, channels: 3, height: 32, width: 32, classes: 10, noise: 0.25,
};

const WAVES = 3; // cosine waves per channel of a prototype
const MAX_FREQ = 2; // cycles per image side: low enough to survive a 4-pixel crop

/** The class prototypes as floats in roughly [32, 224]: classes×C×H×W. */
export function syntheticPrototypes(spec: SyntheticSpec): Float64Array {
  const { channels: c, height: h, width: w, classes } = spec;
  const rng = new Rng(spec.seed);
  const out = new Float64Array(classes * c * h * w);
  for (let k = 0; k < classes; k++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (k * c + ch) * h * w;
      for (let n = 0; n < WAVES; n++) {
        const fy = rng.int(MAX_FREQ + 1), fx = rng.int(MAX_FREQ + 1);
        const phase = 2 * Math.PI * rng.uniform(), amp = 96 / WAVES * (0.5 + rng.uniform());
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            out[base + y * w + x]! += amp * Math.cos(2 * Math.PI * (fy * y / h + fx * x / w) + phase);
          }
        }
      }
      for (let i = 0; i < h * w; i++) out[base + i]! += 128;
    }
  }
  return out;
}

/** One split; the labels are balanced (count/classes each, ±1) in a seeded random order. */
export function syntheticDataset(spec: SyntheticSpec, split: 'train' | 'test' = 'train'): Dataset {
  checkSpec(spec);
  const { channels: c, height: h, width: w, classes } = spec;
  const count = split === 'train' ? spec.trainCount : spec.testCount;
  const protos = syntheticPrototypes(spec);
  // A different stream per split, derived from the seed so that no two (seed, split) pairs collide in practice.
  const rng = new Rng((Math.imul(spec.seed ^ 0x5bd1e995, 0x9e3779b1) + (split === 'train' ? 1 : 2)) >>> 0);
  const order = Array.from({ length: count }, (_, i) => i % classes);
  rng.shuffle(order);
  const labels = Uint8Array.from(order);
  const size = c * h * w, sigma = spec.noise * 255;
  const images = new Uint8Array(count * size);
  for (let i = 0; i < count; i++) {
    const p = labels[i]! * size;
    for (let j = 0; j < size; j++) {
      const v = protos[p + j]! + (sigma > 0 ? sigma * rng.normal() : 0);
      images[i * size + j] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return makeDataset({ name: `synthetic/${split}`, images, labels, count, channels: c, height: h, width: w, classes });
}

export function syntheticSplits(spec: SyntheticSpec): DatasetSplits {
  return { train: syntheticDataset(spec, 'train'), test: syntheticDataset(spec, 'test') };
}

function checkSpec(s: SyntheticSpec): void {
  const ints: [keyof SyntheticSpec, number][] = [['trainCount', 0], ['testCount', 0], ['channels', 1], ['height', 1], ['width', 1], ['classes', 1]];
  for (const [k, min] of ints) {
    if (!Number.isSafeInteger(s[k]) || s[k] < min) throw new DataFormatError(`synthetic dataset: ${k} must be an integer ≥ ${min}, got ${s[k]}`);
  }
  if (s.classes > 256) throw new DataFormatError(`synthetic dataset: classes must be ≤ 256, got ${s.classes}`);
  if (!Number.isInteger(s.seed)) throw new DataFormatError(`synthetic dataset: seed must be an integer, got ${s.seed}`);
  if (!(s.noise >= 0 && Number.isFinite(s.noise))) throw new DataFormatError(`synthetic dataset: noise must be a finite number ≥ 0, got ${s.noise}`);
}
