// The paper's figures as data: collected runs → chart specifications (title, axes, series of
// points with an optional min/max spread over replicates). The page draws exactly these, and the
// PNGs are screenshots of that page, so there is one charting code path.
import type { BranchRecord, Collected, LotteryRecord, RunRecord, TrainRecord } from './collect.ts';
import { differenceLabels } from './labels.ts';

export type FigureGroup = 'accuracy' | 'training' | 'telemetry' | 'perturbations' | 'pretraining' | 'instability';

export interface SeriesSpec {
  name: string;
  x: number[];
  y: number[];
  /** Spread over replicates (min / max), same length as y; absent when every point has one value. */
  lo?: number[];
  hi?: number[];
}

export interface AxisSpec {
  label: string;
  log: boolean;
  /** Larger values on the left (the paper's "% weights remaining" axes). */
  reverse?: boolean;
  /** Ticks only at whole numbers (pruning levels). */
  integer?: boolean;
  /** A fixed range (e.g. iterations 0…T of a run still training) instead of the data's own. */
  span?: [number, number];
}

export interface FigureSpec { id: string; group: FigureGroup; title: string; x: AxisSpec; y: AxisSpec; series: SeriesSpec[] }

/** The paper's control baselines, drawn next to the trunks in the accuracy figure. */
export const BASELINE_BRANCHES = ['randomly_reinitialize', 'randomly_prune'];
export const TELEMETRY_METRICS = ['grad_norm', 'mean_magnitude', 'sign_changed', 'l2_to_start', 'cosine_to_start'];
/** The early phase the paper studies; telemetry after it is sparse (once per epoch) anyway. */
export const TELEMETRY_HORIZON = 4000;

const REMAINING: AxisSpec = { label: '% weights remaining', log: true, reverse: true };
const ACCURACY: AxisSpec = { label: 'test accuracy (%)', log: false };

export function buildFigures(c: Collected): FigureSpec[] {
  const figures = [accuracyFigure(c), ...trainCurveFigures(c), ...telemetryFigures(c), ...perturbationFigures(c), pretrainingFigure(c), pretrainingLengthFigure(c), ...instabilityFigures(c)];
  return figures.filter((f): f is FigureSpec => f !== null && f.series.some((s) => s.x.length > 0))
    .map((f) => ({ ...f, series: f.series.filter((s) => s.x.length > 0) }));
}

/** A lottery's hyperparameters: those of its first trunk run. */
const lotteryHparams = (l: LotteryRecord) => l.replicates.flatMap((r) => r.levels.map((lv) => lv.main?.hparams ?? null)).find((h) => h) ?? null;

/**
 * "rewind to 5it"; when two lotteries would share a label, the hyperparameters that differ between
 * them are added ("rewind to 5it (lr 0.05)"), or the folder name when none do (e.g. pre-training).
 */
export function trunkLabels(lotteries: readonly LotteryRecord[]): Map<string, string> {
  const base = (l: LotteryRecord) => (l.rewindIteration === null ? l.name : `rewind to ${l.rewindIteration}it`);
  const groups = new Map<string, LotteryRecord[]>();
  for (const l of lotteries) groups.set(base(l), [...(groups.get(base(l)) ?? []), l]);
  const out = new Map<string, string>();
  for (const [label, ls] of groups) {
    const diff = ls.length > 1 ? differenceLabels(ls.map((l) => ({ key: l.name, hparams: lotteryHparams(l) }))) : null;
    for (const l of ls) {
      const extra = ls.length > 1 && l.rewindIteration !== null ? diff?.get(l.name) ?? l.name : null;
      out.set(l.name, extra ? `${label} (${extra})` : label);
    }
  }
  return out;
}

/** Train runs by what differs between them ("lr 0.05 r1"), the folder name when nothing does. */
export function trainLabels(trains: readonly TrainRecord[]): Map<TrainRecord, string> {
  const diff = differenceLabels(trains.map((t) => ({ key: t.name, hparams: t.run.hparams })));
  return new Map(trains.map((t) => [t, `${diff.get(t.name) ?? t.name} r${t.replicate}`]));
}

/** Train runs' test accuracy and per-epoch training loss over iterations (one curve per run). */
function trainCurveFigures(c: Collected): FigureSpec[] {
  if (!c.trains.length) return [];
  const labels = trainLabels(c.trains);
  const curve = (metric: string, scale: number) => c.trains.map((t) => {
    const rows = t.run.metrics.filter((m) => m.name === metric && Number.isFinite(m.value)).sort((a, b) => a.iteration - b.iteration);
    return { name: labels.get(t)!, x: rows.map((m) => m.iteration), y: rows.map((m) => scale * m.value) };
  });
  const length = Math.max(...c.trains.flatMap((t) => t.run.metrics.map((m) => m.iteration)), 1);
  const x: AxisSpec = { label: 'iteration', log: false, span: [0, length] };
  return [
    { id: 'train_test_accuracy', group: 'training', title: 'Train runs: test accuracy during training', x, y: ACCURACY, series: curve('test_accuracy', 100) },
    { id: 'train_loss', group: 'training', title: 'Train runs: training loss (mean over each epoch)', x, y: { label: 'loss', log: false }, series: curve('train_epoch_loss', 1) },
  ];
}

/** Branch name plus its options, e.g. "gaussian_noise alpha=1 scale=init_std": replicates share it, seeds differ. */
export function branchLabel(b: Pick<BranchRecord, 'name' | 'options'>): string {
  const opts = Object.entries(b.options).sort(([a], [z]) => a.localeCompare(z))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return [b.name, ...opts].join(' ');
}

/** Groups values by x and reduces each group to mean (y) and min/max spread. */
function aggregate(name: string, values: readonly { x: number; v: number }[]): SeriesSpec {
  const groups = new Map<number, number[]>();
  for (const { x, v } of values) groups.set(x, [...(groups.get(x) ?? []), v]);
  const xs = [...groups.keys()].sort((a, b) => a - b);
  const s: SeriesSpec = { name, x: xs, y: xs.map((x) => mean(groups.get(x)!)) };
  if (xs.some((x) => groups.get(x)!.length > 1)) {
    s.lo = xs.map((x) => Math.min(...groups.get(x)!));
    s.hi = xs.map((x) => Math.max(...groups.get(x)!));
  }
  return s;
}

const mean = (v: readonly number[]) => v.reduce((a, b) => a + b, 0) / v.length;

/** Final accuracy (%) of the trunk at each level, one value per replicate, x = % weights remaining. */
function trunkPoints(l: LotteryRecord, x: 'remaining' | 'level' = 'remaining'): { x: number; v: number }[] {
  return l.replicates.flatMap((r) => r.levels.flatMap((lv) => {
    const acc = lv.main?.testAccuracy;
    const px = x === 'level' ? lv.level : lv.remaining === null ? null : 100 * lv.remaining;
    return acc === null || acc === undefined || px === null ? [] : [{ x: px, v: 100 * acc }];
  }));
}

/** Per branch label, its final accuracies over levels and replicates. */
function branchPoints(l: LotteryRecord, keep: (b: BranchRecord) => boolean): Map<string, { x: number; v: number }[]> {
  const out = new Map<string, { x: number; v: number }[]>();
  for (const r of l.replicates) {
    for (const lv of r.levels) {
      for (const b of lv.branches) {
        if (!keep(b) || b.testAccuracy === null || lv.remaining === null) continue;
        const label = branchLabel(b);
        out.set(label, [...(out.get(label) ?? []), { x: 100 * lv.remaining, v: 100 * b.testAccuracy }]);
      }
    }
  }
  return out;
}

function accuracyFigure(c: Collected): FigureSpec {
  const labels = trunkLabels(c.lotteries);
  const series = c.lotteries.flatMap((l) => {
    const trunk = labels.get(l.name)!;
    const baselines = [...branchPoints(l, (b) => BASELINE_BRANCHES.includes(b.name))]
      .map(([label, pts]) => aggregate(`${label} (${trunk})`, pts));
    return [aggregate(trunk, trunkPoints(l)), ...baselines];
  });
  return { id: 'accuracy_vs_remaining', group: 'accuracy', title: 'Test accuracy vs. weights remaining (mean, min–max over replicates)', x: REMAINING, y: ACCURACY, series };
}

/** Every run with telemetry: trains, lottery levels (trunks), pre-training. */
function telemetryRuns(c: Collected): { name: string; run: RunRecord }[] {
  const trains = trainLabels(c.trains);
  const runs: { name: string; run: RunRecord }[] = c.trains.map((t) => ({ name: trains.get(t)!, run: t.run }));
  for (const l of c.lotteries) {
    for (const r of l.replicates) {
      if (r.pretrain) runs.push({ name: `${l.name} r${r.replicate} pretrain`, run: r.pretrain });
      for (const lv of r.levels) if (lv.main) runs.push({ name: `${l.name} r${r.replicate} level ${lv.level}`, run: lv.main });
    }
  }
  return runs;
}

/** What each telemetry metric measures, for its axis. */
const TELEMETRY_AXES: Record<string, string> = {
  grad_norm: 'gradient L2 norm', mean_magnitude: 'mean |w| of surviving weights', sign_changed: 'fraction of signs changed since the start',
  l2_to_start: 'L2 distance to the start', cosine_to_start: 'cosine similarity to the start',
};

function telemetryFigures(c: Collected): FigureSpec[] {
  const runs = telemetryRuns(c);
  return TELEMETRY_METRICS.map((metric) => {
    const key = `telemetry/${metric}/global`;
    const series = runs.map(({ name, run }) => {
      // Iteration 0 has no place on a log axis (and its values are trivial: distance 0, cosine 1).
      const rows = run.metrics.filter((m) => m.name === key && m.iteration > 0 && m.iteration <= TELEMETRY_HORIZON && Number.isFinite(m.value))
        .sort((a, b) => a.iteration - b.iteration);
      return { name, x: rows.map((m) => m.iteration), y: rows.map((m) => m.value) };
    });
    // The title says the span the runs cover: the first 4000 iterations, or all of shorter runs.
    const last = Math.max(0, ...series.flatMap((s) => s.x));
    const span = last >= TELEMETRY_HORIZON ? `over the first ${TELEMETRY_HORIZON} iterations` : `over iterations 1–${last}`;
    return { id: `telemetry_${metric}`, group: 'telemetry' as const, title: `${metric} (whole network) ${span}`,
      x: { label: 'iteration', log: true }, y: { label: TELEMETRY_AXES[metric] ?? metric, log: false }, series };
  });
}

function perturbationFigures(c: Collected): FigureSpec[] {
  const labels = trunkLabels(c.lotteries);
  return c.lotteries.filter((l) => l.replicates.some((r) => r.levels.some((lv) => lv.branches.length > 0))).map((l) => {
    const trunk = labels.get(l.name)!;
    const branches = [...branchPoints(l, () => true)].map(([label, pts]) => aggregate(label, pts));
    return { id: `perturbations_${l.name}`, group: 'perturbations' as const, title: `Branches vs. the trunk (${trunk}) — ${l.name}`,
      x: REMAINING, y: ACCURACY, series: [aggregate(trunk, trunkPoints(l)), ...branches] };
  });
}

/** "rotation labels, 40ep" from the pre-training run's dataset group and length. */
export function pretrainLabel(h: Record<string, any> | null): string {
  return `${pretrainTask(h)}, ${h?.training?.training_steps ?? '?'}`;
}

/** The pre-training task without its length: "rotation labels", "blur ×4", … */
export function pretrainTask(h: Record<string, any> | null): string {
  const d = h?.dataset ?? {};
  const parts: string[] = [];
  if (d.unsupervised_labels) parts.push(`${d.unsupervised_labels} labels`);
  if (d.random_labels_fraction) parts.push(`random labels ${d.random_labels_fraction}`);
  if (d.blur_factor) parts.push(`blur ×${d.blur_factor}`);
  return parts.length ? parts.join(', ') : 'same task';
}

/** Pre-training length in epochs from a step string ("40ep", "1ep20it" needs the epoch length: null). */
function pretrainEpochs(h: Record<string, any> | null): number | null {
  const m = /^(\d+)ep$/.exec(String(h?.training?.training_steps ?? ''));
  return m ? Number(m[1]) : null;
}

/** The paper's §5 view: accuracy of the sparsest level vs. pre-training length, one line per task. */
function pretrainingLengthFigure(c: Collected): FigureSpec {
  const byTask = new Map<string, { x: number; v: number }[]>();
  for (const l of c.lotteries) {
    const pre = l.replicates.find((r) => r.pretrain)?.pretrain;
    const epochs = pre ? pretrainEpochs(pre.hparams) : null;
    if (!pre || epochs === null) continue;
    const pts = trunkPoints(l, 'level');
    const deepest = Math.max(...pts.map((p) => p.x));
    const task = pretrainTask(pre.hparams);
    byTask.set(task, [...(byTask.get(task) ?? []), ...pts.filter((p) => p.x === deepest).map((p) => ({ x: epochs, v: p.v }))]);
  }
  return { id: 'pretraining_length', group: 'pretraining', title: 'Pre-training: test accuracy of the sparsest level vs. pre-training length, per task',
    x: { label: 'pre-training length (epochs)', log: false }, y: ACCURACY, series: [...byTask].map(([task, pts]) => aggregate(task, pts)) };
}

function pretrainingFigure(c: Collected): FigureSpec {
  const byTask = new Map<string, { x: number; v: number }[]>();
  for (const l of c.lotteries) {
    const pre = l.replicates.find((r) => r.pretrain)?.pretrain;
    if (!pre) continue;
    const task = pretrainLabel(pre.hparams);
    byTask.set(task, [...(byTask.get(task) ?? []), ...trunkPoints(l, 'level')]);
  }
  return { id: 'pretraining', group: 'pretraining', title: 'Pre-training the rewind point: test accuracy vs. level, per pre-training task',
    x: { label: 'pruning level', log: false, integer: true }, y: ACCURACY, series: [...byTask].map(([task, pts]) => aggregate(task, pts)) };
}

function instabilityFigures(c: Collected): FigureSpec[] {
  const labels = trunkLabels(c.lotteries);
  const BARRIER: AxisSpec = { label: 'error barrier (percentage points)', log: false };
  const points = (l: LotteryRecord) => l.replicates.flatMap((r) => r.levels.flatMap((lv) => lv.instability.map((i) => ({ level: lv.level, v: 100 * i.barrier }))));
  const vsLevel: FigureSpec = { id: 'instability_vs_level', group: 'instability', title: 'Instability: error barrier between two copies trained from the rewind point, vs. level',
    x: { label: 'pruning level', log: false, integer: true }, y: BARRIER,
    series: c.lotteries.map((l) => aggregate(labels.get(l.name)!, points(l).map((p) => ({ x: p.level, v: p.v })))) };
  const withK = c.lotteries.filter((l) => l.rewindIteration !== null && points(l).length > 0);
  if (new Set(withK.map((l) => l.rewindIteration)).size < 2) return [vsLevel];
  const byLevel = new Map<number, { x: number; v: number }[]>();
  for (const l of withK) for (const p of points(l)) byLevel.set(p.level, [...(byLevel.get(p.level) ?? []), { x: l.rewindIteration!, v: p.v }]);
  const vsK: FigureSpec = { id: 'instability_vs_rewind', group: 'instability', title: 'Instability vs. rewind point k',
    x: { label: 'rewind point k (iterations)', log: false }, y: BARRIER,
    series: [...byLevel].sort(([a], [b]) => a - b).map(([level, pts]) => aggregate(`level ${level}`, pts)) };
  return [vsLevel, vsK];
}
