// The PyTorch peer's rows in `bench --suite training`: one network (every setting the machine
// supports, each labelled with its precision) and packs (K networks: each fp32 single-process
// setting run K times over, vmap of K, K processes). A ratio pairs equal precisions only: ours is
// fp32, so PyTorch's fp32 rows carry one and its TF32 and autocast rows stand as context (no
// ratio); with --apex-fp16 ours is fp16 mixed, and only autocast fp16 (the same numerics) does.
import type { BenchContext, BenchRow, Timing, TrainingStats } from './types.ts';
import { type Precision, type PytorchRow, pytorchPeerName, runPytorchPeer } from './pytorch.ts';
import { BATCH, DENSITIES, type TrainingCase } from '../training-cases.ts';

/** The precision of our bench step: fp32, or with --apex-fp16 PyTorch AMP's fp16 mixed (docs/mixed-precision.md). */
export function ourPrecision(ctx: BenchContext): Precision {
  return ctx.apexFp16 ? 'fp16 mixed' : 'fp32';
}

/** Rounds of steps back to back per PyTorch row: their spread is printed, their median compared. */
export const PEER_ROUNDS = 3;

/** Our side of a row, as timeOurs measured it (roundsMs: each round's ms/step; throughputMs their median). */
export interface OursSide { timing: Timing; throughputMs: number; roundsMs?: number[]; stats: TrainingStats }

/**
 * PyTorch's rows for all cases, from one subprocess (one torch import and CUDA start-up). With
 * `packs`: dense only, plus vmap and K processes for each K. Skip lines, failures and the
 * device go to the log.
 */
export async function pytorchRows(ctx: BenchContext, cases: TrainingCase[], packs?: readonly number[]): Promise<PytorchRow[]> {
  ctx.log(`training: running the PyTorch peer (${cases.map((c) => c.model).join(', ')}; every setting this machine supports` +
    `${packs ? `; vmap and processes for K = ${packs.join(', ')}` : ''})`);
  const densities = packs ? [1] : DENSITIES;
  const r = await runPytorchPeer({ models: cases.map((c) => c.model), densities, packs: packs ? [...packs] : undefined,
    warmup: ctx.warmup, reps: ctx.reps, rounds: PEER_ROUNDS, batch: BATCH });
  if ('skipped' in r) { ctx.log(r.skipped); return []; }
  for (const s of r.skips) ctx.log(s);
  for (const e of r.errors) ctx.log(`pytorch peer: ${e}`);
  const first = r.rows[0];
  if (first) {
    ctx.log(`pytorch peer: torch ${first.torch} on ${first.device}${first.driver ? `, driver ${first.driver}` : ''}` +
      (first.device === 'cpu' ? ' (torch sees no CUDA device: the PyTorch rows are CPU rows)' : ''));
  }
  if (densities.some((d) => d < 1)) ctx.log('pytorch peer: sparse rows for eager and compile only (the other settings differ from their dense rows by the mask multiply alone)');
  return r.rows;
}

/** The peer latency column: each step waited for, or for K processes (only timed together) the rounds. */
function peerTiming(p: PytorchRow): Timing {
  if (p.latencyMsMedian !== null && p.latencyMsBest !== null) return { minMs: p.latencyMsBest, medianMs: p.latencyMsMedian, reps: p.reps };
  return { minMs: Math.min(...p.roundsMs), medianMs: p.throughputMs, reps: p.roundsMs.length };
}

const ms = (x: number) => x.toFixed(x < 10 ? 2 : 1);

/** "6.40 ms/step (rounds 6.10–7.20, 3 × 20 steps)": the median the ratio uses and the spread around it. */
function spread(p: PytorchRow): string {
  return `${ms(p.throughputMs)} ms/step (rounds ${ms(Math.min(...p.roundsMs))}–${ms(Math.max(...p.roundsMs))}, ${p.roundsMs.length} × ${p.reps} steps)`;
}

/** The precision note of a row without a ratio. */
const context = (p: PytorchRow, ours: Precision) => `context (${p.precision} against our ${ours}: no ratio)`;

/** One network: a row per PyTorch setting at `density`, then which fp32 setting was fastest. */
export function pytorchStepRows(ctx: BenchContext, c: TrainingCase, caseName: string, density: number, ours: OursSide, peers: readonly PytorchRow[]): BenchRow[] {
  const precision = ourPrecision(ctx);
  const mine = peers.filter((p) => p.model === c.model && p.members === 1 && p.density === density);
  const rows = mine.map((p): BenchRow => {
    const ratio = p.precision === precision ? p.throughputMs / ours.throughputMs : null;
    const name = pytorchPeerName(p);
    ctx.log(`training ${caseName}: ${name} latency ${p.latencyMsMedian === null ? '–' : ms(p.latencyMsMedian)} ms/step, throughput ${spread(p)}, ` +
      (ratio === null ? context(p, precision) : `ours/peer ${ratio.toFixed(2)}x`));
    return {
      suite: 'training', case: caseName, flops: 0, ours: ours.timing, peer: peerTiming(p), peerName: name, ratio,
      throughputMs: { ours: ours.throughputMs, peer: p.throughputMs }, oursRoundsMs: ours.roundsMs, peerRoundsMs: p.roundsMs, training: ours.stats,
    };
  });
  const same = mine.filter((p) => p.precision === precision).sort((a, b) => a.throughputMs - b.throughputMs);
  if (same[0]) ctx.log(`training ${caseName}: fastest PyTorch ${precision} setting: ${pytorchPeerName(same[0])} at ${ms(same[0].throughputMs)} ms/step, ours/it ${(same[0].throughputMs / ours.throughputMs).toFixed(2)}x`);
  else if (mine.length) ctx.log(`training ${caseName}: no PyTorch setting in our precision (${precision}) ran here: no ratio`);
  return rows;
}

/**
 * A pack of K: our K networks in one step against PyTorch training the same K models: each fp32
 * single-process setting one model after another (its images/s), vmap of K, K processes; the
 * TF32 and autocast single-process rows (context, no ratio) only with the first K, as they do not
 * change with K.
 */
export function pytorchPackRows(ctx: BenchContext, c: TrainingCase, k: number, firstK: boolean, ours: OursSide, peers: readonly PytorchRow[]): BenchRow[] {
  const caseName = `${c.model} b${BATCH} dense, pack of ${k}${ctx.apexFp16 ? ' apex-fp16' : ''}`;
  const precision = ourPrecision(ctx);
  const oursIps = (k * BATCH * 1000) / ours.throughputMs;
  const isPack = (p: PytorchRow) => p.mode === 'vmap' || p.mode === 'procs';
  const mine = peers.filter((p) => p.model === c.model && p.density === 1 &&
    (isPack(p) ? p.members === k : firstK || p.precision === precision));
  const rows = mine.map((p): BenchRow => {
    const peerIps = (p.members * BATCH * 1000) / p.throughputMs;
    const ratio = p.precision === precision ? oursIps / peerIps : null;
    const name = `${pytorchPeerName(p)}${isPack(p) ? '' : ', one process'}`;
    ctx.log(`training ${caseName}: ${name} ${peerIps.toFixed(0)} img/s, ${spread(p)}, ` + (ratio === null ? context(p, precision) : `pack/peer ${ratio.toFixed(2)}x`));
    return {
      suite: 'training', case: caseName, flops: 0, ours: ours.timing, peer: peerTiming(p), peerName: name, ratio,
      throughputMs: { ours: ours.throughputMs, peer: p.throughputMs }, oursRoundsMs: ours.roundsMs, peerRoundsMs: p.roundsMs, training: ours.stats,
      pack: { members: k, peerBatch: p.members * BATCH },
    };
  });
  // The best PyTorch can do in our precision for these K models in one process (vmap included).
  const single = mine.filter((p) => p.precision === precision && p.mode !== 'procs')
    .map((p) => ({ p, ips: (p.members * BATCH * 1000) / p.throughputMs })).sort((a, b) => b.ips - a.ips)[0];
  if (single) ctx.log(`training ${caseName}: best PyTorch ${precision} in one process: ${pytorchPeerName(single.p)} ${single.ips.toFixed(0)} img/s, pack/it ${(oursIps / single.ips).toFixed(2)}x`);
  return rows;
}
