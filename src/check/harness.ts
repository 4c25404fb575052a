// Helpers that keep each kernel case short: random inputs, upload, run, read back, free.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, runDispatches } from '../gpu/dispatch.ts';
import { createTensor, download, numel, type Tensor } from '../gpu/tensor.ts';
import { Rng } from '../rng.ts';
import type { Comparison } from './compare.ts';

export interface KernelCase {
  /** Shader family, e.g. "linear". */
  family: string;
  /** Human-readable case name with the shapes. */
  name: string;
  run(gpu: Gpu): Promise<Comparison[]>;
}

export type HostArray = Float32Array | Uint32Array;

/**
 * The case run with gpu.tune overrides (a kernel variant its defaults do not pick, checked on every
 * adapter); the overrides are named in the case's name and undone afterwards.
 */
export function withTune(c: KernelCase, tune: Record<string, number>): KernelCase {
  return {
    family: c.family,
    name: `${c.name} ${Object.entries(tune).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    async run(gpu) {
      const saved = gpu.tune;
      gpu.tune = { ...saved, ...tune };
      try {
        return await c.run(gpu);
      } finally {
        gpu.tune = saved;
      }
    },
  };
}

/** Random float32 values in [-scale, scale), plus the same values widened to float64 for refs. */
export function randomArray(rng: Rng, n: number, scale = 1): { f32: Float32Array; f64: Float64Array } {
  const f32 = new Float32Array(n);
  for (let i = 0; i < n; i++) f32[i] = (rng.uniform() * 2 - 1) * scale;
  return { f32, f64: Float64Array.from(f32) };
}

/** A 0/1 mask with roughly `density` ones. */
export function randomMask(rng: Rng, n: number, density: number): { f32: Float32Array; f64: Float64Array } {
  const f32 = new Float32Array(n);
  for (let i = 0; i < n; i++) f32[i] = rng.uniform() < density ? 1 : 0;
  return { f32, f64: Float64Array.from(f32) };
}

export function widen(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a as ArrayLike<number>);
}

/**
 * Uploads `inputs`, allocates zeroed `outputs` (unless also inputs), builds the dispatches with them, runs once and
 * returns every output read back. All buffers are destroyed afterwards.
 */
export async function runOnGpu(
  gpu: Gpu,
  inputs: Record<string, { shape: number[]; data: HostArray }>,
  outputs: Record<string, number[]>,
  build: (t: Record<string, Tensor>) => Dispatch[],
): Promise<Record<string, Float32Array>> {
  const tensors: Record<string, Tensor> = {};
  try {
    for (const [name, { shape, data }] of Object.entries(inputs)) tensors[name] = createTensor(gpu, name, shape, data);
    // An output that is also an input is updated in place (e.g. SGD's weights and momenta).
    for (const [name, shape] of Object.entries(outputs)) tensors[name] ??= createTensor(gpu, name, shape, new Float32Array(numel(shape)));
    await runDispatches(gpu, build(tensors));
    const out: Record<string, Float32Array> = {};
    for (const name of Object.keys(outputs)) out[name] = await download(gpu, tensors[name]!);
    return out;
  } finally {
    for (const t of Object.values(tensors)) t.buffer.destroy();
  }
}

export { Rng };
