// `earlyphase bench`: each suite times our kernels and TensorFlow.js's webgpu backend on the
// same Dawn device in the same process, and reports GFLOP/s and the throughput ratio.
import { openGpu } from '../dawn.ts';
import type { BenchContext, BenchRow } from './types.ts';
import { releaseTfjs, tfjsOn } from './tfjs.ts';
import { gflops } from './time.ts';
import { benchMatmul } from './matmul.ts';
import { benchConv2d } from './conv2d.ts';

export const SUITES: Record<string, (ctx: BenchContext) => Promise<BenchRow[]>> = {
  matmul: benchMatmul,
  conv2d: benchConv2d,
};

export interface BenchOptions {
  adapter?: string;
  suites: string[];
  warmup: number;
  reps: number;
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
      const ctx: BenchContext = { gpu, tf, warmup: opts.warmup, reps: opts.reps, log: opts.log };
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

/** Plain-text table: one row per case, GFLOP/s from median times, min times in brackets. */
export function formatBenchTable(rows: BenchRow[]): string {
  const header = ['suite', 'case', 'ours GFLOP/s', 'peer GFLOP/s', 'peer', 'ours/peer'];
  const fmt = (flops: number, t: BenchRow['ours']) =>
    `${gflops(flops, t.medianMs).toFixed(1)} (best ${gflops(flops, t.minMs).toFixed(1)})`;
  const body = rows.map((r) => [r.suite, r.case, fmt(r.flops, r.ours), fmt(r.flops, r.peer), r.peerName, `${r.ratio.toFixed(2)}x`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i !== 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
