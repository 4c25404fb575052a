// `earlyphase bench`: each suite times our kernels and TensorFlow.js's webgpu backend on the
// same Dawn device in the same process, and reports GFLOP/s and the throughput ratio.
import { openGpu } from '../../host/dawn.ts';
import { UserError } from '../../../src/errors.ts';
import { type BenchContext, type BenchRow, PEERS, type PeerName } from './types.ts';
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
  /** Training suite: pack sizes to time (src/train/train-pack.ts) instead of single steps. */
  packs?: number[];
  /** Training suite peers (default tfjs). */
  peers?: string[];
  /** Training suite: our step in mixed precision (--apex-fp16). */
  apexFp16?: boolean;
  log: (s: string) => void;
}

/** Checks a --peer list ("tfjs,pytorch"); an unknown name is a UserError naming the known ones. */
export function parsePeers(names: readonly string[]): PeerName[] {
  const unknown = names.filter((n) => !(PEERS as readonly string[]).includes(n));
  if (unknown.length || names.length === 0) {
    throw new UserError(`bench --peer: ${unknown.length ? `unknown peer ${unknown.join(', ')}` : 'no peer given'} (known: ${PEERS.join(', ')})`);
  }
  return [...new Set(names)] as PeerName[];
}

/**
 * --apex-fp16 times our mixed-precision training step: the training suite only, and PyTorch's
 * autocast fp16 is its only peer of equal precision (TF.js trains in fp32 only, so a ratio against
 * it would compare precisions).
 */
export function checkApexFp16(suites: readonly string[], peers: readonly string[]): void {
  if (!suites.includes('training')) throw new UserError('bench --apex-fp16 times training steps: add --suite training');
  if (peers.includes('tfjs')) throw new UserError('bench --apex-fp16 compares with PyTorch autocast fp16 only: use --peer pytorch');
}

/** Checks a --suite list ("matmul,conv2d"); an unknown name is a UserError naming the known ones. */
export function parseSuites(names: readonly string[]): string[] {
  const unknown = names.filter((s) => !Object.hasOwn(SUITES, s));
  if (unknown.length || names.length === 0) {
    throw new UserError(`bench --suite: ${unknown.length ? `unknown suite ${unknown.join(', ')}` : 'no suite given'} (known: ${Object.keys(SUITES).join(', ')})`);
  }
  return [...new Set(names)];
}

export async function runBench(opts: BenchOptions): Promise<{ adapter: string; rows: BenchRow[] }> {
  parseSuites(opts.suites);
  const peers = parsePeers(opts.peers ?? ['tfjs']);
  const gpu = await openGpu(opts.adapter);
  try {
    const tf = await tfjsOn(gpu);
    try {
      opts.log(`bench on ${gpu.adapter.description || gpu.adapter.shortName}: warmup ${opts.warmup}, reps ${opts.reps}`);
      const ctx: BenchContext = { gpu, tf, warmup: opts.warmup, reps: opts.reps, models: opts.models, packs: opts.packs, peers, apexFp16: opts.apexFp16, log: opts.log };
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
 * Plain-text tables. Kernel rows: GFLOP/s from median times, min times in brackets, and for
 * matmul rows the GFLOP/s with calls back to back (a peer timed only call by call: its median). Training-step
 * rows (a second table): latency (ms, median and best), throughput (ms/step back to back; for the
 * PyTorch peer the median of its rounds, fastest–slowest beside it) and the images/s it gives, for us
 * and the peer, the ratio of throughputs (— where the precisions differ), plus our step's dispatches,
 * submits, readbacks and GPU memory.
 */
export function formatBenchTable(rows: BenchRow[]): string {
  const kernels = rows.filter((r) => !r.training), steps = rows.filter((r) => r.training);
  const fmt = (flops: number, t: BenchRow['ours']) =>
    `${gflops(flops, t.medianMs).toFixed(1)} (best ${gflops(flops, t.minMs).toFixed(1)})`;
  const tables: string[] = [];
  if (kernels.length) {
    // Matmul rows also have the rate with calls back to back (no wait per call).
    const b2b = kernels.some((r) => r.throughputMs);
    const rate = (r: BenchRow, side: 'ours' | 'peer') => (r.throughputMs ? gflops(r.flops, r.throughputMs[side]).toFixed(1) : '');
    tables.push(table(['suite', 'case', 'ours GFLOP/s', 'peer GFLOP/s', 'peer', 'ours/peer', ...(b2b ? ['ours back to back', 'peer back to back'] : [])], [0, 1, 4],
      kernels.map((r) => [r.suite, r.case, fmt(r.flops, r.ours), fmt(r.flops, r.peer), r.peerName, ratio(r),
        ...(b2b ? [rate(r, 'ours'), rate(r, 'peer')] : [])])));
  }
  if (steps.length) {
    // Sub-millisecond steps (LeNet on a discrete GPU) need more than one decimal.
    const num = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);
    const latency = (t: BenchRow['ours']) => `${num(t.medianMs)} (best ${num(t.minMs)})`;
    const ips = (batch: number, ms: number) => (batch * 1000 / ms).toFixed(0);
    tables.push(table(
      ['suite', 'case', 'ours latency ms', 'ours ms/step', 'ours img/s', 'peer latency ms', 'peer ms/step', 'peer img/s', 'peer', 'ours/peer',
        'disp/submit/readback per step', 'GPU MiB'],
      [0, 1, 8, 10],
      steps.map((r) => {
        const t = r.training!;
        // Rows from before throughput was measured: their step-by-step medians were the throughput figure.
        const tp = r.throughputMs ?? { ours: r.ours.medianMs, peer: r.peer.medianMs };
        // Rounds (ours; PyTorch's): the median, and the fastest and slowest round beside it.
        const rounds = (ms?: number[]) => (ms?.length ? ` (${num(Math.min(...ms))}–${num(Math.max(...ms))})` : '');
        return [r.suite, r.case, latency(r.ours), num(tp.ours) + rounds(r.oursRoundsMs), ips(t.batch, tp.ours), latency(r.peer), num(tp.peer) + rounds(r.peerRoundsMs),
          ips(r.pack?.peerBatch ?? t.batch, tp.peer),
          r.peerName, ratio(r),
          `${t.dispatchesPerStep}/${t.submitsPerStep}/${t.asyncReadbacksPerStep} async, ${t.blockingReadbacksPerStep} blocking`,
          (t.gpuBytes / 2 ** 20).toFixed(1)];
      })));
  }
  return tables.join('\n\n');
}

/** "1.25x", or "—" for a row with no ratio (the peer computes in another precision). */
function ratio(r: BenchRow): string {
  return r.ratio === null ? '—' : `${r.ratio.toFixed(2)}x`;
}

/** Columns in `left` are left-aligned (text), the rest right-aligned (numbers). */
function table(header: string[], left: number[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (left.includes(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
