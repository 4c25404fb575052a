// `bench --suite training`: whole SGD steps of LeNet-300-100 and ResNet-20 (batch 128), dense and
// at 80% sparsity, ours against TensorFlow.js on the same Dawn device (webgpu backend) and on its
// wasm backend (the CPU-native peer). Our step is the trainer's Program: on-GPU batch gather (+
// crop/flip for ResNet-20) → forward (training-mode BN) → softmax cross-entropy → backward →
// masked SGD, one submit, loss/accuracy copied to the staging ring. The dataset is synthetic
// bytes of the real size, uploaded once; TF.js gets a random batch created once (no gather, no
// augmentation). Latency: one step per timed rep, waited for before the next (both sides).
// Throughput (ours, and PyTorch's with --peer pytorch): steps submitted back to back, one wait at the
// end; TF.js is only timed step by step, so its latency stands in for its throughput. PyTorch
// (training-pytorch.ts): every setting the machine supports, each row labelled with its
// precision; only its fp32 rows get a ratio against our fp32 step.
import type { BenchContext, BenchRow, Timing } from './types.ts';
import { TFJS_PEER_NAME, tfjsSync } from './tfjs.ts';
import { enableWasm, registerTfjsGradients, WASM_BACKEND } from './tfjs-models.ts';
import { BATCH, DENSITIES, TRAINING_CASES, type TrainingCase } from '../training-cases.ts';
import { repsFor, timeOurs, timeTfjsSteps } from './training-timing.ts';
import { pytorchRows, pytorchStepRows } from './training-pytorch.ts';
import { benchTrainingPacks } from './training-pack.ts';

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

type OursResult = Awaited<ReturnType<typeof timeOurs>>;

/**
 * A table row: latencies in `ours`/`peer`, and the ratio from throughput (ms/step back to back),
 * which is what a training run sees. A peer timed only step by step passes its latency median.
 */
function trainingRow(c: TrainingCase, d: number, mine: OursResult, peerName: string, peer: Timing, peerThroughputMs: number): BenchRow & { ratio: number } {
  return {
    suite: 'training', case: `${c.model} b${BATCH} ${densityName(d)}`, flops: 0, ours: mine.timing, peer, peerName,
    ratio: peerThroughputMs / mine.throughputMs, throughputMs: { ours: mine.throughputMs, peer: peerThroughputMs }, oursRoundsMs: mine.roundsMs, training: mine.stats,
  };
}

export async function benchTraining(ctx: BenchContext): Promise<BenchRow[]> {
  if (ctx.packs) return benchTrainingPacks(ctx, ctx.packs);
  const { gpu, tf } = ctx;
  const rows: BenchRow[] = [];
  const webgpuBackend = tf.getBackend();
  await registerTfjsGradients(tf);
  const cases = TRAINING_CASES.filter((c) => !ctx.models || ctx.models.some((m) => c.model.includes(m)));
  if (cases.length === 0) throw new Error(`bench training: no model matches ${ctx.models!.join(', ')} (models: ${TRAINING_CASES.map((c) => c.model).join(', ')})`);
  // Before our steps, so the subprocess never shares a GPU with them (our device idles meanwhile).
  const pytorch = ctx.peers.includes('pytorch') ? await pytorchRows(ctx, cases) : [];
  for (const c of cases) {
    const ours = new Map<number, OursResult>();
    for (const d of DENSITIES) {
      const r = await timeOurs(gpu, c, d, repsFor(c, ctx, 'ours'), 1, ctx.apexFp16);
      ours.set(d, r);
      const k = r.stats.gpuBytesByKind;
      ctx.log(`training ${c.model} ${densityName(d)}: ours latency ${r.timing.medianMs.toFixed(1)} ms/step (best ${r.timing.minMs.toFixed(1)}), ` +
        `throughput ${r.throughputMs.toFixed(1)} ms/step (rounds ${Math.min(...r.roundsMs).toFixed(1)}–${Math.max(...r.roundsMs).toFixed(1)}), ` +
        `${r.stats.dispatchesPerStep} dispatches, ${r.stats.submitsPerStep} submit, loss ${r.loss.toFixed(3)}; GPU ${mib(r.stats.gpuBytes)} MiB ` +
        `(${Object.entries(k).map(([n, b]) => `${n} ${mib(b)}`).join(', ')})`);
    }
    const tfjsPeers: { name: string; enter: () => Promise<string>; sync: () => Promise<void> }[] = !ctx.peers.includes('tfjs') ? [] : [
      { name: TFJS_PEER_NAME, enter: async () => { await tf.setBackend(webgpuBackend); return TFJS_PEER_NAME; }, sync: () => tfjsSync(tf) },
      // wasm ops run synchronously on the calling thread: the step is done when run() returns.
      { name: WASM_BACKEND, enter: () => enableWasm(tf), sync: async () => {} },
    ];
    for (const p of tfjsPeers) {
      const peerName = await p.enter();
      for (const d of DENSITIES) {
        const peer = await timeTfjsSteps(ctx, c, d, repsFor(c, ctx, 'peer'), p.sync);
        const row = trainingRow(c, d, ours.get(d)!, peerName, peer, peer.medianMs);
        ctx.log(`training ${c.model} ${densityName(d)}: ${peerName} ${peer.medianMs.toFixed(1)} ms/step (best ${peer.minMs.toFixed(1)}), ours/peer ${row.ratio.toFixed(2)}x`);
        rows.push(row);
      }
    }
    await tf.setBackend(webgpuBackend);
    const amp = ctx.apexFp16 ? ' apex-fp16' : '';
    for (const d of DENSITIES) rows.push(...pytorchStepRows(ctx, c, `${c.model} b${BATCH} ${densityName(d)}${amp}`, d, ours.get(d)!, pytorch));
  }
  return rows;
}

function densityName(d: number): string {
  return d === 1 ? 'dense' : `${Math.round((1 - d) * 100)}% sparse`;
}
