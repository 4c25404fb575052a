// Square fp32 matmul rows: our matmul_forward against tfjs's matMul on the same device, same
// data, C = A·B with A, B [n, n], and with --peer pytorch against cuBLAS (torch.mm, TF32 off) on
// the same GPU. Inputs are uploaded (and tfjs's compiled) before timing. Each row has the time per
// call waited for (the ratio) and per call back to back (the GPU's rate; with cuBLAS, the share
// of the FP32 peak). The 'gpu' kernel set also runs 2048³ and 4096³ (at CPU drivers' ~10 GFLOP/s
// one 4096³ call would take 14 s).
import { createTensor } from '../../../src/gpu/tensor.ts';
import * as linear from '../../../src/kernels/linear.ts';
import { Rng } from '../../../src/rng.ts';
import type { BenchContext, BenchRow, Timing } from './types.ts';
import { runPytorchMatmul } from './pytorch.ts';
import { TFJS_PEER_NAME } from './tfjs.ts';
import { gflops, timeBackToBack, timeDispatches, timeTfjs } from './time.ts';

export const MATMUL_SIZES = [256, 512, 1024];
/** Our side of a size: per call waited for, and ms per call back to back. */
interface Ours { timing: Timing; backToBackMs: number }
export const GPU_MATMUL_SIZES = [2048, 4096];

function random(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

export async function benchMatmul(ctx: BenchContext): Promise<BenchRow[]> {
  const { gpu, tf } = ctx;
  const rows: BenchRow[] = [];
  const sizes = [...MATMUL_SIZES, ...(gpu.kernels === 'gpu' ? GPU_MATMUL_SIZES : [])];
  const oursBySize = new Map<number, Ours>();
  for (const n of sizes) {
    const rng = new Rng(n);
    const aData = random(rng, n * n), bData = random(rng, n * n);
    const flops = 2 * n * n * n;
    const a = createTensor(gpu, 'bench.A', [n, n], aData);
    const b = createTensor(gpu, 'bench.B', [n, n], bData);
    const c = createTensor(gpu, 'bench.C', [n, n]);
    let ours, backToBackMs;
    try {
      const call = [linear.matmul(gpu, a, b, c, { m: n, n, k: n })];
      ours = await timeDispatches(gpu, call, ctx);
      backToBackMs = await timeBackToBack(gpu, call, ctx);
    } finally {
      for (const t of [a, b, c]) t.buffer.destroy();
    }
    const ta = tf.tensor2d(aData, [n, n]), tb = tf.tensor2d(bData, [n, n]);
    let peer;
    try {
      peer = await timeTfjs(tf, () => tf.matMul(ta, tb), ctx);
    } finally {
      tf.dispose([ta, tb]);
    }
    oursBySize.set(n, { timing: ours, backToBackMs });
    // TF.js is only timed call by call: its latency stands in for its back-to-back rate.
    const row: BenchRow = {
      suite: 'matmul', case: `${n}x${n}x${n}`, flops, ours, peer, peerName: TFJS_PEER_NAME,
      ratio: peer.medianMs / ours.medianMs, throughputMs: { ours: backToBackMs, peer: peer.medianMs },
    };
    ctx.log(`matmul ${row.case}: ours ${gflops(flops, ours.medianMs).toFixed(1)} GFLOP/s per call waited, ` +
      `${gflops(flops, backToBackMs).toFixed(1)} back to back; ` +
      `${TFJS_PEER_NAME} ${gflops(flops, peer.medianMs).toFixed(1)} GFLOP/s (×${(peer.medianMs / ours.medianMs).toFixed(2)})`);
    rows.push(row);
  }
  if (ctx.peers.includes('pytorch')) rows.push(...await cublasRows(ctx, sizes, oursBySize));
  return rows;
}

/** " (N% of the FP32 peak)", or nothing where the peak is unknown. */
export function ofPeak(flops: number, ms: number, peakTflops: number | null): string {
  return peakTflops === null ? '' : ` (${(100 * gflops(flops, ms) / (peakTflops * 1000)).toFixed(1)}% of the ${peakTflops.toFixed(1)} TFLOP/s FP32 peak)`;
}

/** The cuBLAS rows (or one log line saying why there are none). */
async function cublasRows(ctx: BenchContext, sizes: number[], ours: Map<number, Ours>): Promise<BenchRow[]> {
  const r = await runPytorchMatmul(sizes, ctx.warmup, ctx.reps);
  if ('skipped' in r) { ctx.log(r.skipped); return []; }
  for (const e of r.errors) ctx.log(`pytorch peer: ${e}`);
  return r.rows.map((p) => {
    const { timing: mine, backToBackMs } = ours.get(p.n)!, flops = 2 * p.n ** 3;
    const peerName = `pytorch ${p.torch.split('.').slice(0, 2).join('.')} cuBLAS`;
    const row: BenchRow = {
      suite: 'matmul', case: `${p.n}x${p.n}x${p.n}`, flops, ours: mine, peerName,
      peer: { minMs: p.latencyMsBest, medianMs: p.latencyMsMedian, reps: p.reps }, ratio: p.latencyMsMedian / mine.medianMs,
      throughputMs: { ours: backToBackMs, peer: p.throughputMs },
    };
    const rate = (ms: number) => `${gflops(flops, ms).toFixed(1)}${ofPeak(flops, ms, p.fp32PeakTflops)}`;
    ctx.log(`matmul ${row.case}: ours ${rate(mine.medianMs)} GFLOP/s per call waited, ${rate(backToBackMs)} back to back; ` +
      `${peerName} on ${p.device} ${rate(p.latencyMsMedian)} waited, ${rate(p.throughputMs)} back to back ` +
      `(×${(p.latencyMsMedian / mine.medianMs).toFixed(2)} waited, ×${(p.throughputMs / backToBackMs).toFixed(2)} back to back)`);
    return row;
  });
}
