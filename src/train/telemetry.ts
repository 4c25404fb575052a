// Early-training telemetry (the quantities Frankle, Schwab & Morcos, ICLR 2020, follow through the early phase), computed on the GPU with the deterministic reductions
// and read back through its own staging ring, so a telemetry step costs extra dispatches but no
// stall. At each scheduled iteration i (the state after i steps), per parameter tensor and for
// the whole network:
//   grad_norm        ‖g‖ of the minibatch gradient of the step that produced iteration i
//   mean_magnitude   mean |w|
//   sign_changed     fraction of weights whose sign differs from the run's starting weights w_s
//   l2_to_start      ‖w − w_s‖ (summed as Σ(w−w_s)², no cancellation)
//   cosine_to_start  w·w_s / (‖w‖‖w_s‖)
// plus the trajectories of a few seeded individual weights. w_s is the run's first iteration's
// weights: step 0 for a fresh run, w_k for a rewound lottery level.
import type { Gpu } from '../gpu/gpu.ts';
import { ALIGN_ELEMS, createTensor, type Tensor } from '../gpu/tensor.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import type { ModelState } from '../nn/model-state.ts';
import { parameters } from '../nn/graph.ts';
import { reduceDistSq, reduceDot, reduceSignDiff, reduceSumAbs, reduceSumSq, type Reduction } from '../kernels/reduce.ts';
import { gather, indexTensorData } from '../kernels/elementwise.ts';
import { Rng } from '../rng.ts';
import { tensorSeed } from '../nn/init.ts';
import type { MetricRow } from './metrics.ts';

export interface TelemetryOptions {
  /** Every iteration up to this one… */
  everyUpTo: number;
  /** …then about `perDecade` log-spaced iterations per decade up to this one… */
  logUpTo: number;
  perDecade: number;
  /** …then at every epoch end. Number of individual weights whose trajectories are recorded. */
  trajectories: number;
}

export const DEFAULT_TELEMETRY: TelemetryOptions = { everyUpTo: 100, logUpTo: 4000, perDecade: 20, trajectories: 8 };

/** Iterations (states after that many steps) in (start, total] at which telemetry is taken. */
export function telemetrySchedule(o: TelemetryOptions, start: number, total: number, perEpoch: number): Set<number> {
  const s = new Set<number>();
  for (let i = 1; i <= o.everyUpTo; i++) s.add(i);
  for (let e = Math.log10(Math.max(o.everyUpTo, 1)); e <= Math.log10(o.logUpTo) + 1e-9; e += 1 / o.perDecade) s.add(Math.round(10 ** e));
  for (let i = perEpoch; i <= total; i += perEpoch) s.add(i);
  s.add(total);
  return new Set([...s].filter((i) => i > start && i <= total).sort((a, b) => a - b));
}

const FIELDS = ['grad_sumsq', 'sum_abs', 'sign_diff', 'dist_sq', 'dot', 'sumsq'] as const;

/** Its buffers belong to whoever builds it: the trainer builds it through TrainPack.own. */
export class Telemetry {
  readonly output: Tensor;
  readonly dispatches: Dispatch[] = [];
  private readonly entries: { name: string; count: number; startSumSq: number }[] = [];
  private readonly trajectory: { name: string; index: number }[] = [];
  private readonly trajOffset: number;

  /** `start`: the run's first weights, in the params arena layout (host copy, uploaded here). */
  constructor(gpu: Gpu, st: ModelState, start: Float32Array, mask: Float32Array, o: TelemetryOptions, seed: number) {
    const layout = st.params.layout();
    const prunable = new Set(parameters(st.spec.layers).filter((p) => p.prunable).map((p) => p.name));
    const sumsq = (a: Float32Array) => a.reduce((s, v) => s + v * v, 0);
    const views: { name: string; w: Tensor; g: Tensor; count: number; startSumSq: number }[] = layout.map((e) => {
      const n = e.shape.reduce((a, b) => a * b, 1);
      return { name: e.name, w: st.params.get(e.name), g: st.grads.get(e.name), count: n, startSumSq: sumsq(start.subarray(e.offset, e.offset + n)) };
    });
    const total = views.reduce((s, v) => s + v.count, 0);
    views.push({ name: 'global', w: st.params.all(), g: st.grads.all(), count: total, startSumSq: sumsq(start) });

    // Seeded trajectories: surviving weights of prunable tensors, spread over the tensors.
    const rng = new Rng(tensorSeed(seed, 'telemetry trajectories'));
    const candidates = layout.filter((e) => prunable.has(e.name));
    for (let k = 0; k < o.trajectories && candidates.length; k++) {
      const e = candidates[k % candidates.length]!;
      const n = e.shape.reduce((a, b) => a * b, 1);
      for (let tries = 0; tries < 100; tries++) {
        const i = rng.int(n);
        if (mask[e.offset + i] !== 0 || tries === 99) { this.trajectory.push({ name: e.name, index: i }); break; }
      }
    }
    const slots = views.length * FIELDS.length;
    this.trajOffset = Math.ceil(slots / ALIGN_ELEMS) * ALIGN_ELEMS;
    this.output = createTensor(gpu, 'telemetry', [this.trajOffset + Math.max(this.trajectory.length, 1)]);
    const startT = createTensor(gpu, 'telemetry_start_weights', [start.length], start);
    // The start weights mirror the arena's layout; a pack member's arena starts past its slab's base.
    const base = st.params.all().offset;
    const startView = (w: Tensor): Tensor => ({ ...startT, name: `start.${w.name}`, offset: startT.offset + w.offset - base, length: w.length, shape: [w.length] });
    views.forEach((v, j) => {
      const at = (f: typeof FIELDS[number]) => j * FIELDS.length + FIELDS.indexOf(f);
      const s = startView(v.w);
      const reductions: Reduction[] = [
        reduceSumSq(gpu, v.g, this.output, at('grad_sumsq')), reduceSumAbs(gpu, v.w, this.output, at('sum_abs')),
        reduceSignDiff(gpu, v.w, s, this.output, at('sign_diff')), reduceDistSq(gpu, v.w, s, this.output, at('dist_sq')),
        reduceDot(gpu, v.w, s, this.output, at('dot')), reduceSumSq(gpu, v.w, this.output, at('sumsq'))];
      for (const r of reductions) this.dispatches.push(...r.dispatches);
      this.entries.push({ name: v.name, count: v.count, startSumSq: v.startSumSq });
    });
    if (this.trajectory.length) {
      const flat = this.trajectory.map((t) => layout.find((e) => e.name === t.name)!.offset + t.index);
      const idx = createTensor(gpu, 'telemetry_trajectory_indices', [flat.length], indexTensorData(flat, st.params.elements));
      const out: Tensor = { ...this.output, name: 'telemetry.trajectories', offset: this.output.offset + this.trajOffset, length: flat.length, shape: [flat.length] };
      this.dispatches.push(gather(gpu, st.params.all(), idx, out));
    }
  }

  /** Metric rows from one snapshot of `output`. */
  rows(iteration: number, v: Float32Array): MetricRow[] {
    const u = new Uint32Array(v.buffer, v.byteOffset, v.length);
    const out: MetricRow[] = [];
    this.entries.forEach((e, j) => {
      const f = (name: typeof FIELDS[number]) => v[j * FIELDS.length + FIELDS.indexOf(name)]!;
      const row = (metric: string, value: number) => out.push({ name: `telemetry/${metric}/${e.name}`, iteration, value });
      row('grad_norm', Math.sqrt(f('grad_sumsq')));
      row('mean_magnitude', f('sum_abs') / e.count);
      row('sign_changed', u[j * FIELDS.length + FIELDS.indexOf('sign_diff')]! / e.count);
      row('l2_to_start', Math.sqrt(f('dist_sq')));
      const denom = Math.sqrt(f('sumsq')) * Math.sqrt(e.startSumSq);
      row('cosine_to_start', denom > 0 ? f('dot') / denom : 0);
    });
    this.trajectory.forEach((t, k) => out.push({ name: `telemetry/weight/${t.name}[${t.index}]`, iteration, value: v[this.trajOffset + k]! }));
    return out;
  }
}

/**
 * Iterations whose weights are kept on disk when telemetry is on, so distances to the final
 * weights can be computed after training: 1, 2, 5, 10, 20, 50, … and the epoch ends at 1, 2, 5,
 * 10, 20, 40, 80, 160 epochs — a log-spaced handful, not every telemetry point.
 */
export function finalComparisonIterations(start: number, total: number, perEpoch: number): number[] {
  const its = new Set<number>();
  for (let d = 1; d <= total; d *= 10) for (const m of [1, 2, 5]) its.add(d * m);
  for (const e of [1, 2, 5, 10, 20, 40, 80, 160]) its.add(e * perEpoch);
  return [...its].filter((i) => i > start && i < total).sort((a, b) => a - b);
}

/** Rows of ‖w_i − w_T‖ and cos(w_i, w_T) per tensor and globally, from weights saved during the run. */
export function distanceToFinalRows(layout: readonly { name: string; offset: number; shape: readonly number[] }[],
  saved: ReadonlyMap<number, Float32Array>, final: Float32Array): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const [iteration, w] of saved) {
    let gd = 0, gdot = 0, gw = 0, gf = 0;
    for (const e of layout) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      let d = 0, dot = 0, ww = 0, ff = 0;
      for (let i = e.offset; i < e.offset + n; i++) {
        const a = w[i]!, b = final[i]!;
        d += (a - b) ** 2; dot += a * b; ww += a * a; ff += b * b;
      }
      rows.push({ name: `telemetry/l2_to_final/${e.name}`, iteration, value: Math.sqrt(d) },
        { name: `telemetry/cosine_to_final/${e.name}`, iteration, value: ww > 0 && ff > 0 ? dot / Math.sqrt(ww * ff) : 0 });
      gd += d; gdot += dot; gw += ww; gf += ff;
    }
    rows.push({ name: 'telemetry/l2_to_final/global', iteration, value: Math.sqrt(gd) },
      { name: 'telemetry/cosine_to_final/global', iteration, value: gw > 0 && gf > 0 ? gdot / Math.sqrt(gw * gf) : 0 });
  }
  return rows;
}
