// Host-side initialisation of a model's parameters, following OpenLTH's initialisers:
// conv/linear weights Kaiming-normal (std √(2/fan_in), PyTorch's kaiming_normal_ default),
// biases left at PyTorch's default U(−1/√fan_in, 1/√fan_in), batch norm γ per `batchnorm_init`
// and β = 0 (1 for "oneone"). Each tensor draws from its own stream seeded by (seed, name), so
// adding a layer never shifts the values of the others.
import { Rng } from '../rng.ts';
import type { Arena } from '../gpu/tensor.ts';
import { parameters, type ModelSpec } from './graph.ts';

export type BatchnormInit = 'uniform' | 'fixed' | 'oneone' | 'positivenegative';

/** FNV-1a of the name mixed with the seed: a stable per-tensor stream id. */
export function tensorSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** Fills a host array laid out like `arena` (padding stays 0). */
export function initParameters(spec: ModelSpec, arena: Arena, seed: number, bnInit: BatchnormInit): Float32Array {
  const out = new Float32Array(arena.elements);
  const specs = new Map(parameters(spec.layers).map((p) => [p.name, p]));
  for (const { name, offset, shape } of arena.layout()) {
    const p = specs.get(name);
    if (!p) throw new Error(`${spec.name}: arena tensor ${name} is not a parameter of the model`);
    const n = shape.reduce((a, b) => a * b, 1);
    const rng = new Rng(tensorSeed(seed, name));
    const view = out.subarray(offset, offset + n);
    switch (p.init) {
      case 'kaiming_normal': {
        const std = Math.sqrt(2 / p.fanIn);
        for (let i = 0; i < n; i++) view[i] = rng.normal() * std;
        break;
      }
      case 'bias_uniform': {
        const bound = 1 / Math.sqrt(p.fanIn);
        for (let i = 0; i < n; i++) view[i] = (rng.uniform() * 2 - 1) * bound;
        break;
      }
      case 'bn_gamma':
        for (let i = 0; i < n; i++) {
          view[i] = bnInit === 'uniform' ? rng.uniform() : bnInit === 'positivenegative' ? rng.uniform() * 2 - 1 : 1;
        }
        break;
      case 'zeros':
        view.fill(bnInit === 'oneone' && name.endsWith('.bias') ? 1 : 0);
        break;
    }
  }
  return out;
}

/** Batch-norm running statistics at initialisation: mean 0, variance 1 (PyTorch). */
export function initRunningStats(arena: Arena): Float32Array {
  const out = new Float32Array(arena.elements);
  for (const { name, offset, shape } of arena.layout()) {
    if (name.endsWith('.running_var')) out.fill(1, offset, offset + shape.reduce((a, b) => a * b, 1));
  }
  return out;
}
