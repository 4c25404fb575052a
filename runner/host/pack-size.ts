// --pack K|auto: how many runs train together in one TrainPack (src/train/train-pack.ts). `auto`
// divides the memory the adapter's buffers come from by one member's footprint (its arenas, Adam's
// second moment and the activations and gradients of its batch, from the model's shapes, as
// runner/host/capacity.ts estimates them; the dataset is shared by the members). WebGPU does not say
// how much memory a device has, so it is read where it can be: the machine's free memory for the
// CPU adapters, `nvidia-smi` for NVIDIA GPUs, EARLYPHASE_DEVICE_MEMORY_MIB when set; otherwise a
// conservative 2 GiB is assumed and said. A pack the device still refuses is split in halves by
// the trainer (trainRuns), so `auto` only has to be about right.
import { execFileSync } from 'node:child_process';
import { freemem } from 'node:os';
import { HparamsError } from '../../src/errors.ts';
import { parameters, type ModelSpec } from '../../src/nn/graph.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { footprint } from './capacity.ts';

/** The most networks `auto` puts in one pack: past this, a pack only costs memory (the step's work grows with K). */
export const AUTO_MAX = 32;
/** Share of the device's memory `auto` plans to fill (the rest: the dataset, evaluation instances, the driver's own). */
const SHARE = 0.6;

export type PackSize = number | 'auto';

export function parsePack(text: string): PackSize {
  if (text === 'auto') return 'auto';
  if (!/^[1-9]\d*$/.test(text) || Number(text) > 1024) throw new HparamsError(`--pack ${JSON.stringify(text)}: expected a number of runs per pack (1 = each run alone) or auto`);
  return Number(text);
}

/** Bytes one member of a pack of `spec` at `batch` needs on the device, not counting the shared dataset. */
export function memberBytes(spec: ModelSpec, batch: number): number {
  const f = footprint(spec);
  const count = (shape: readonly number[]) => shape.reduce((x, y) => x * y, 1);
  const weights = parameters(spec.layers).reduce((a, p) => a + count(p.shape), 0);
  // The conv weights repacked for the forward and input-gradient kernels, once per step (src/nn/packed-weights.ts).
  const packed = 2 * parameters(spec.layers).filter((p) => p.shape.length === 4).reduce((a, p) => a + count(p.shape), 0);
  // Activations and their gradients; weights, gradients, momenta (Adam's first moment), masks and Adam's second moment.
  return 4 * (2 * f.total * batch + 5 * weights + packed);
}

/** Memory the adapter's buffers come from, and where that number comes from. */
export function deviceMemory(gpu: Gpu): { bytes: number; source: string } {
  const env = process.env.EARLYPHASE_DEVICE_MEMORY_MIB;
  if (env !== undefined) {
    if (!/^[1-9]\d*$/.test(env)) throw new HparamsError(`EARLYPHASE_DEVICE_MEMORY_MIB=${JSON.stringify(env)}: expected a whole number of MiB`);
    return { bytes: Number(env) * 2 ** 20, source: 'EARLYPHASE_DEVICE_MEMORY_MIB' };
  }
  if (gpu.adapter.class === 'cpu') return { bytes: freemem(), source: `free memory of this machine (${gpu.adapter.shortName} runs on the CPU)` };
  if (/nvidia/i.test(gpu.adapter.description)) {
    try {
      const out = execFileSync('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
      const mib = Number(out.trim().split('\n')[0]);
      if (Number.isFinite(mib) && mib > 0) return { bytes: mib * 2 ** 20, source: 'nvidia-smi (free memory of GPU 0)' };
    } catch { /* no nvidia-smi: fall through */ }
  }
  return { bytes: 2 * 2 ** 30, source: 'an assumed 2 GiB (WebGPU does not report device memory; set EARLYPHASE_DEVICE_MEMORY_MIB)' };
}

/**
 * Runs per pack for `runs` runs of `spec` at `batch` (null: not known in advance, as for a queue
 * worker); `log` gets one line saying how `auto` chose.
 */
export function resolvePack(size: PackSize, gpu: Gpu, spec: ModelSpec, batch: number, runs: number | null, log: (s: string) => void): number {
  if (size !== 'auto') return size;
  const member = memberBytes(spec, batch);
  const mem = deviceMemory(gpu);
  const fit = Math.max(1, Math.floor((SHARE * mem.bytes) / member));
  const k = Math.max(1, Math.min(fit, AUTO_MAX, runs ?? AUTO_MAX));
  const limits = runs === null ? `at most ${AUTO_MAX}` : `at most ${AUTO_MAX}, and ${runs} run${runs === 1 ? '' : 's'} to train together`;
  log(`--pack auto: ${k} runs per pack (${spec.name} at batch ${batch}: ${(member / 2 ** 20).toFixed(1)} MiB per run; ` +
    `${(mem.bytes / 2 ** 30).toFixed(1)} GiB from ${mem.source}; ${limits})`);
  return k;
}
