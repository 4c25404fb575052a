// `bench --suite training --pack 1,2,4,…`: aggregate training throughput of a pack of K networks
// (src/train/train-pack.ts: K runs of one model, one submit per step) for LeNet-300-100 and
// ResNet-20 at batch 128, dense, against peers training the same K models, measured in the same
// run: with --peer pytorch, each fp32 PyTorch setting in one process one model after another, K
// models by vmap in one process, and K processes at once (training-pytorch.ts; its TF32/autocast
// rows are context without a ratio); with --peer tfjs, TF.js's webgpu backend on our device, one
// model after another. The ratio is images/s of the whole pack over the peer's images/s.
import { UserError } from '../../../src/errors.ts';
import type { BenchContext, BenchRow, Timing } from './types.ts';
import { TRAINING_CASES, type TrainingCase } from '../training-cases.ts';
import { timeOurs, timeTfjsSteps, repsFor } from './training-timing.ts';
import { type PytorchRow } from './pytorch.ts';
import { pytorchPackRows, pytorchRows } from './training-pytorch.ts';
import { TFJS_PEER_NAME, tfjsSync } from './tfjs.ts';
import { registerTfjsGradients } from './tfjs-models.ts';

const BATCH = 128;

/** "1,2,4" → [1, 2, 4]: pack sizes, each a positive integer. */
export function parsePackSizes(text: string): number[] {
  const ks = text.split(',').map((s) => s.trim());
  if (!ks.every((k) => /^[1-9]\d*$/.test(k) && Number(k) <= 1024)) throw new UserError(`bench --pack "${text}": expected pack sizes like 1,2,4,8`);
  return [...new Set(ks.map(Number))].sort((a, b) => a - b);
}

interface Peer { name: string; msPerStep: number; timing: Timing }

export async function benchTrainingPacks(ctx: BenchContext, packs: readonly number[]): Promise<BenchRow[]> {
  const cases = TRAINING_CASES.filter((c) => !ctx.models || ctx.models.some((m) => c.model.includes(m)));
  if (cases.length === 0) throw new Error(`bench training: no model matches ${ctx.models!.join(', ')} (models: ${TRAINING_CASES.map((c) => c.model).join(', ')})`);
  // Before our packs, so the subprocess never shares a GPU with them.
  const pytorch = ctx.peers.includes('pytorch') ? await pytorchRows(ctx, cases, packs) : [];
  if (ctx.peers.includes('tfjs')) await registerTfjsGradients(ctx.tf);
  const rows: BenchRow[] = [];
  for (const c of cases) {
    const peers: Peer[] = [];
    if (ctx.peers.includes('tfjs')) {
      const t = await timeTfjsSteps(ctx, c, 1, repsFor(c, ctx, 'peer'), () => tfjsSync(ctx.tf));
      peers.push({ name: TFJS_PEER_NAME, msPerStep: t.medianMs, timing: t });
    }
    for (const [i, k] of packs.entries()) rows.push(...await packRows(ctx, c, k, i === 0, peers, pytorch));
  }
  return rows;
}

async function packRows(ctx: BenchContext, c: TrainingCase, k: number, firstK: boolean, peers: readonly Peer[], pytorch: readonly PytorchRow[]): Promise<BenchRow[]> {
  const r = await timeOurs(ctx.gpu, c, 1, repsFor(c, ctx, 'ours'), k, ctx.apexFp16);
  const ours = (k * BATCH * 1000) / r.throughputMs;
  ctx.log(`training ${c.model} pack of ${k}: ${r.throughputMs.toFixed(2)} ms/step (rounds ${Math.min(...r.roundsMs).toFixed(2)}–${Math.max(...r.roundsMs).toFixed(2)}), ${ours.toFixed(0)} img/s in all, ` +
    `${r.stats.dispatchesPerStep} dispatches, ${r.stats.submitsPerStep} submit; GPU ${(r.stats.gpuBytes / 2 ** 20).toFixed(1)} MiB`);
  return [...pytorchPackRows(ctx, c, k, firstK, r, pytorch), ...peers.map((p) => {
    const peer = (BATCH * 1000) / p.msPerStep;
    ctx.log(`training ${c.model} pack of ${k}: ${p.name} (one process) ${peer.toFixed(0)} img/s, pack/peer ${(ours / peer).toFixed(2)}x`);
    return {
      suite: 'training', case: `${c.model} b${BATCH} dense, pack of ${k}`, flops: 0, ours: r.timing, peer: p.timing, peerName: `${p.name}, one process`,
      ratio: ours / peer, throughputMs: { ours: r.throughputMs, peer: p.msPerStep }, oursRoundsMs: r.roundsMs, training: r.stats, pack: { members: k, peerBatch: BATCH },
    };
  })];
}
