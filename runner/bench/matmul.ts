// Square fp32 matmul rows: our matmul_forward against tfjs's matMul on the same device, same
// data, C = A·B with A, B [n, n]. Inputs are uploaded (and tfjs's compiled) before timing.
import { createTensor } from '../../src/gpu/tensor.ts';
import * as linear from '../../src/kernels/linear.ts';
import { Rng } from '../../src/rng.ts';
import type { BenchContext, BenchRow } from './types.ts';
import { TFJS_PEER_NAME } from './tfjs.ts';
import { gflops, timeDispatches, timeTfjs } from './time.ts';

export const MATMUL_SIZES = [256, 512, 1024];

function random(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

export async function benchMatmul(ctx: BenchContext): Promise<BenchRow[]> {
  const { gpu, tf } = ctx;
  const rows: BenchRow[] = [];
  for (const n of MATMUL_SIZES) {
    const rng = new Rng(n);
    const aData = random(rng, n * n), bData = random(rng, n * n);
    const flops = 2 * n * n * n;
    const a = createTensor(gpu, 'bench.A', [n, n], aData);
    const b = createTensor(gpu, 'bench.B', [n, n], bData);
    const c = createTensor(gpu, 'bench.C', [n, n]);
    let ours;
    try {
      ours = await timeDispatches(gpu, [linear.matmul(gpu, a, b, c, { m: n, n, k: n })], ctx);
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
    const row: BenchRow = {
      suite: 'matmul', case: `${n}x${n}x${n}`, flops, ours, peer, peerName: TFJS_PEER_NAME,
      ratio: peer.medianMs / ours.medianMs,
    };
    ctx.log(`matmul ${row.case}: ours ${gflops(flops, ours.medianMs).toFixed(1)} GFLOP/s, ` +
      `${TFJS_PEER_NAME} ${gflops(flops, peer.medianMs).toFixed(1)} GFLOP/s (×${row.ratio.toFixed(2)})`);
    rows.push(row);
  }
  return rows;
}
