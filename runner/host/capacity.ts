// Will a training step fit on the adapter? Checked from the model's shapes and the adapter's
// limits before a run folder is made or a device opened: `--batch-size 100000000` used to give
// ~30 Dawn "Buffer size exceeds" lines, a stack trace and a half-made run folder.
// The estimate is a lower bound (each layer's output and its gradient, kept for the backward
// pass; weights, gradients and two optimiser buffers), so what it refuses cannot fit; what it
// passes may still be refused by the driver.
import { freemem, totalmem } from 'node:os';
import { UserError } from '../../src/errors.ts';
import { parameters, type ModelSpec, type Node } from '../../src/nn/graph.ts';
import { describeAdapter } from '../../src/gpu/gpu.ts';
import { requestAdapter } from './dawn.ts';

export interface Footprint {
  /** Elements per sample of the largest single tensor (an input or a layer output). */
  largest: number;
  largestWhat: string;
  /** Elements per sample of all layer outputs (the input included). */
  total: number;
}

type Shape = number[];
const count = (s: Shape) => s.reduce((a, b) => a * b, 1);

/** Per-sample activation sizes of a model, from its layer tree. */
export function footprint(spec: ModelSpec): Footprint {
  const f: Footprint = { largest: count(spec.input), largestWhat: 'input batch', total: count(spec.input) };
  const note = (s: Shape, what: string) => {
    const n = count(s);
    f.total += n;
    if (n > f.largest) { f.largest = n; f.largestWhat = what; }
  };
  const walk = (layers: readonly Node[], x: Shape): Shape => {
    for (const n of layers) {
      const [c, h = 1, w = 1] = x;
      switch (n.op) {
        case 'conv': {
          const o = (d: number) => Math.floor((d + 2 * n.pad - n.k) / n.stride) + 1;
          x = [n.cout, o(h), o(w)]; note(x, `${n.name} output`); break;
        }
        case 'linear': x = [n.out]; note(x, `${n.name} output`); break;
        case 'bn': note(x, `${n.name} output`); break;
        case 'relu': note(x, 'relu output'); break;
        case 'maxpool2': x = [c!, Math.floor(h / 2), Math.floor(w / 2)]; note(x, 'pool output'); break;
        case 'avgpool': x = [c!, Math.floor(h / n.k), Math.floor(w / n.k)]; note(x, 'pool output'); break;
        case 'gap': x = [c!]; note(x, 'pool output'); break;
        case 'flatten': x = [count(x)]; break;
        case 'residual': { const y = walk(n.body, x); walk(n.shortcut, x); x = y; note(x, 'residual sum'); break; }
      }
    }
    return x;
  };
  walk(spec.layers, [...spec.input]);
  return f;
}

export interface AdapterCapacity {
  name: string;
  /** Bytes one storage binding may hold (the smaller of the binding and buffer limits). */
  maxBinding: number;
  /** Bytes of memory the step's buffers come from, when known (CPU adapters: the machine's memory). */
  memory: number | null;
}

/** The adapter's limits, read without opening a device. */
export async function adapterCapacity(adapterName?: string): Promise<AdapterCapacity | null> {
  const adapter = await requestAdapter(adapterName);
  if (!adapter) return null; // openGpu reports the missing adapter
  const d = describeAdapter(adapter.info);
  return {
    name: d.shortName,
    maxBinding: Math.min(adapter.limits.maxStorageBufferBindingSize, adapter.limits.maxBufferSize),
    memory: d.class === 'cpu' ? totalmem() : null,
  };
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** Throws a UserError naming --batch-size when a training step at `batch` cannot fit on the adapter. */
export function checkFits(spec: ModelSpec, batch: number, cap: AdapterCapacity, flag = '--batch-size'): void {
  const f = footprint(spec);
  const one = f.largest * 4 * batch;
  if (one > cap.maxBinding) {
    const fits = Math.floor(cap.maxBinding / (f.largest * 4));
    throw new UserError(`${flag} ${batch}: the ${f.largestWhat} of ${spec.name} alone would be ${mib(one)}, more than the ${mib(cap.maxBinding)} ` +
      `one buffer can hold on ${cap.name}; use ${flag} ${fits} or less`);
  }
  const weights = parameters(spec.layers).reduce((a, p) => a + count(p.shape), 0);
  const bytes = 4 * (2 * f.total * batch + 4 * weights); // activations and their gradients; weights, gradients, 2 optimiser buffers
  if (cap.memory !== null && bytes > cap.memory) {
    const fits = Math.max(1, Math.floor((cap.memory / 4 - 4 * weights) / (2 * f.total)));
    throw new UserError(`${flag} ${batch}: a training step of ${spec.name} needs at least ${gib(bytes)}, more than this machine's ` +
      `${gib(cap.memory)} of memory (${cap.name} runs on the CPU; ${gib(freemem())} free now); use ${flag} ${fits} or less`);
  }
}

/** checkFits for each (model, batch) a command will train, reading the adapter's limits once. */
export async function checkRunsFit(runs: readonly { spec: ModelSpec; batch: number }[], adapterName?: string): Promise<void> {
  const cap = await adapterCapacity(adapterName);
  if (!cap) return;
  for (const r of runs) checkFits(r.spec, r.batch, cap);
}
