// `earlyphase bench`: each suite times our kernels and TensorFlow.js's webgpu backend on the
// same Dawn device in the same process, and reports GFLOP/s and the throughput ratio.
import { openGpu } from '../dawn.ts';
import type { BenchContext, BenchRow } from './types.ts';
import { releaseTfjs, tfjsOn } from './tfjs.ts';
import { gflops } from './time.ts';
import { benchMatmul } from './matmul.ts';
import { benchConv2d } from './conv2d.ts';
import { benchTraining } from './training.ts';

export const SUITES: Record<string, (ctx: BenchContext) => Promise<BenchRow[]>> = {
  matmul: benchMatmul,
  conv2d: benchConv2d,
  training: benchTraining,
};

export interface BenchOptions {
  adapter?: string;
  suites: string[];
  warmup: number;
  reps: number;
  /** Training suite: only models whose name contains one of these. */
  models?: string[];
  log: (s: string) => void;
}

export async function runBench(opts: BenchOptions): Promise<{ adapter: string; rows: BenchRow[] }> {
  const unknown = opts.suites.filter((s) => !(s in SUITES));
  if (unknown.length) throw new Error(`unknown bench suite ${unknown.join(', ')} (known: ${Object.keys(SUITES).join(', ')})`);
  const gpu = await openGpu(opts.adapter);
  try {
    const tf = await tfjsOn(gpu);
    try {
      opts.log(`bench on ${gpu.adapter.description || gpu.adapter.shortName}: warmup ${opts.warmup}, reps ${opts.reps}`);
      const ctx: BenchContext = { gpu, tf, warmup: opts.warmup, reps: opts.reps, models: opts.models, log: opts.log };
      const rows: BenchRow[] = [];
      for (const s of opts.suites) rows.push(...await SUITES[s]!(ctx));
      return { adapter: gpu.adapter.shortName, rows };
    } finally {
      releaseTfjs(tf);
    }
  } finally {
    gpu.destroy();
  }
}

/**
 * Plain-text tables. Kernel rows: GFLOP/s from median times, min times in brackets. Training-step
 * rows (a second table): ms/step and images/s, plus our step's dispatches, submits, readbacks and
 * GPU memory.
 */
export function formatBenchTable(rows: BenchRow[]): string {
  const kernels = rows.filter((r) => !r.training), steps = rows.filter((r) => r.training);
  const fmt = (flops: number, t: BenchRow['ours']) =>
    `${gflops(flops, t.medianMs).toFixed(1)} (best ${gflops(flops, t.minMs).toFixed(1)})`;
  const tables: string[] = [];
  if (kernels.length) {
    tables.push(table(['suite', 'case', 'ours GFLOP/s', 'peer GFLOP/s', 'peer', 'ours/peer'], [0, 1, 4],
      kernels.map((r) => [r.suite, r.case, fmt(r.flops, r.ours), fmt(r.flops, r.peer), r.peerName, `${r.ratio.toFixed(2)}x`])));
  }
  if (steps.length) {
    const ms = (t: BenchRow['ours']) => `${t.medianMs.toFixed(1)} (best ${t.minMs.toFixed(1)})`;
    const ips = (batch: number, t: BenchRow['ours']) => (batch * 1000 / t.medianMs).toFixed(0);
    tables.push(table(
      ['suite', 'case', 'ours ms/step', 'peer ms/step', 'ours img/s', 'peer img/s', 'peer', 'ours/peer', 'disp/submit/readback per step', 'GPU MiB'],
      [0, 1, 6, 8],
      steps.map((r) => {
        const t = r.training!;
        return [r.suite, r.case, ms(r.ours), ms(r.peer), ips(t.batch, r.ours), ips(t.batch, r.peer), r.peerName, `${r.ratio.toFixed(2)}x`,
          `${t.dispatchesPerStep}/${t.submitsPerStep}/${t.asyncReadbacksPerStep} async, ${t.blockingReadbacksPerStep} blocking`,
          (t.gpuBytes / 2 ** 20).toFixed(1)];
      })));
  }
  return tables.join('\n\n');
}

/** Columns in `left` are left-aligned (text), the rest right-aligned (numbers). */
function table(header: string[], left: number[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
