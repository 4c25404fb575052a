// Reads a tree of run folders (train_*, lottery_*) into plain records for the report. The file
// system is behind ResultSource so this stays free of Node and runs the same on a fake tree in
// tests. Nothing here throws on a missing or unreadable file: a report over a half-finished
// sweep must still draw what exists, so every gap becomes a line in `missing` instead.
import { parseMetrics, type MetricRow } from '../train/metrics.ts';

/** Read-only view of a results folder; paths are '/'-joined and relative to it. */
export interface ResultSource {
  /** Entry names in a folder ([] when it does not exist). */
  list(dir: string): string[];
  /** A file's text, or null when it does not exist. */
  read(path: string): string | null;
}

export interface RunRecord {
  dir: string;
  hparams: Record<string, any> | null;
  metrics: MetricRow[];
  /** Final test accuracy from done.json; null while the run is unfinished. */
  testAccuracy: number | null;
}

export interface BranchRecord extends RunRecord { name: string; options: Record<string, unknown>; folder: string }

export interface InstabilityRecord { level: number; alphas: number[]; errors: number[]; barrier: number }

export interface LevelRecord {
  level: number;
  /** Fraction of prunable weights left (1 at level 0); null without a sparsity report. */
  remaining: number | null;
  main: RunRecord | null;
  branches: BranchRecord[];
  instability: InstabilityRecord[];
}

export interface ReplicateRecord { replicate: number; levels: LevelRecord[]; pretrain: RunRecord | null }

export interface LotteryRecord {
  name: string;
  /** Rewind point k in iterations (lottery.json's, else level_1's earliest saved model); null when not derivable yet. */
  rewindIteration: number | null;
  replicates: ReplicateRecord[];
}

export interface TrainRecord { name: string; replicate: number; run: RunRecord }

export interface Collected { lotteries: LotteryRecord[]; trains: TrainRecord[]; missing: string[] }

const numbered = (names: string[], prefix: string): { n: number; name: string }[] =>
  names.flatMap((name) => {
    const m = new RegExp(`^${prefix}(\\d+)$`).exec(name);
    return m ? [{ n: Number(m[1]), name }] : [];
  }).sort((a, b) => a.n - b.n);

const join = (...parts: string[]): string => parts.filter((p) => p !== '').join('/');

/**
 * Collects `folder` (relative to the source root, '' for the root itself): either one run folder
 * (train_* or lottery_*) or a folder holding them.
 */
export function collectResults(src: ResultSource, folder = ''): Collected {
  const out: Collected = { lotteries: [], trains: [], missing: [] };
  const base = folder.split('/').at(-1) ?? '';
  // A run folder by its contents (replicate_N inside), not its name alone: a runs root may itself
  // be called train_results or lottery_sweep.
  const isRun = /^(train|lottery)_/.test(base) && numbered(src.list(folder), 'replicate_').length > 0;
  const experiments = isRun ? [{ dir: folder, name: base }]
    : src.list(folder).filter((n) => /^(train|lottery)_/.test(n)).sort().map((n) => ({ dir: join(folder, n), name: n }));
  for (const e of experiments) {
    if (e.name.startsWith('lottery_')) out.lotteries.push(collectLottery(src, e.dir, e.name, out.missing));
    else {
      for (const r of numbered(src.list(e.dir), 'replicate_')) {
        const run = readRun(src, join(e.dir, r.name, 'main'), `${e.name}/${r.name}`, out.missing);
        if (run) out.trains.push({ name: e.name, replicate: r.n, run });
      }
    }
  }
  return out;
}

function collectLottery(src: ResultSource, dir: string, name: string, missing: string[]): LotteryRecord {
  const replicates: ReplicateRecord[] = [];
  let rewindIteration: number | null = null;
  for (const r of numbered(src.list(dir), 'replicate_')) {
    const rdir = join(dir, r.name);
    const where = `${name}/${r.name}`;
    // lottery.json records k (lotteries since it existed); older folders derive it from level_1's files.
    const record = readJson(src, join(rdir, 'lottery.json'));
    if (rewindIteration === null && record && Number.isInteger(record.rewind_iteration)) rewindIteration = record.rewind_iteration;
    const levels: LevelRecord[] = [];
    for (const l of numbered(src.list(rdir), 'level_')) {
      const ldir = join(rdir, l.name);
      const main = readRun(src, join(ldir, 'main'), `${l.name} of ${where}`, missing);
      const sparsity = readJson(src, join(ldir, 'main', 'sparsity_report.json'));
      const remaining = l.n === 0 ? 1 : sparsity && sparsity.total > 0 ? sparsity.unpruned / sparsity.total : null;
      if (remaining === null) missing.push(`${l.name} of ${where} has no sparsity_report.json`);
      const branches: BranchRecord[] = [];
      const instability: InstabilityRecord[] = [];
      for (const entry of src.list(ldir).sort()) {
        if (entry.startsWith('branch_')) {
          const b = readJson(src, join(ldir, entry, 'branch.json'));
          const run = readRun(src, join(ldir, entry), `${entry} in ${l.name} of ${where}`, missing);
          if (b && run) branches.push({ ...run, name: String(b.branch), options: b.options ?? {}, folder: entry });
          else if (!b) missing.push(`${entry} in ${l.name} of ${where} has no branch.json`);
        } else if (entry.startsWith('instability_')) {
          const i = readJson(src, join(ldir, entry, 'instability.json'));
          if (i) instability.push({ level: l.n, alphas: i.alphas, errors: i.errors, barrier: i.barrier });
          else missing.push(`${entry} in ${l.name} of ${where} has no instability.json`);
        }
      }
      levels.push({ level: l.n, remaining, main, branches, instability });
      if (l.n === 1 && rewindIteration === null) rewindIteration = rewindPoint(src, join(ldir, 'main'), join(rdir, 'level_0', 'main'));
    }
    const pretrainDir = join(rdir, 'pretrain', 'main');
    const pretrain = src.list(pretrainDir).length ? readRun(src, pretrainDir, `pretrain of ${where}`, missing) : null;
    replicates.push({ replicate: r.n, levels, pretrain });
  }
  return { name, rewindIteration, replicates };
}

/**
 * k = the iteration of level_1's earliest model file, model_ep<E>_it<I> (OpenLTH names: I counts
 * within epoch E). For E > 0 the epoch length comes from level_0's epoch-end rows, which sit at
 * multiples of it: the gap between two of them (level 0 may start mid-way, after pre-training),
 * or the first one when there is only one.
 */
function rewindPoint(src: ResultSource, level1: string, level0: string): number | null {
  const saved = src.list(level1).flatMap((f) => {
    const m = /^model_ep(\d+)_it(\d+)\.safetensors$/.exec(f);
    return m ? [{ ep: Number(m[1]), it: Number(m[2]) }] : [];
  }).sort((a, b) => a.ep - b.ep || a.it - b.it);
  const first = saved[0];
  if (!first) return null;
  if (first.ep === 0) return first.it;
  const text = src.read(join(level0, 'metrics.csv'));
  const epochEnds = text === null ? [] : safeMetrics(text, level0).filter((r) => r.name === 'train_epoch_loss').map((r) => r.iteration);
  if (!epochEnds.length) return null;
  const sorted = [...new Set(epochEnds)].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((v, i) => v - sorted[i]!);
  // The most common gap: the last epoch may be cut short when training ends mid-epoch.
  const counts = new Map<number, number>();
  for (const g of gaps) counts.set(g, (counts.get(g) ?? 0) + 1);
  const perEpoch = gaps.length ? [...counts].sort((a, b) => b[1] - a[1] || b[0] - a[0])[0]![0] : sorted[0]!;
  return first.ep * perEpoch + first.it;
}

function readRun(src: ResultSource, dir: string, where: string, missing: string[]): RunRecord | null {
  const files = src.list(dir);
  if (!files.length) { missing.push(`${where} has no run folder`); return null; }
  const done = readJson(src, join(dir, 'done.json'));
  if (!done) missing.push(`${where} has no done.json`);
  const csv = src.read(join(dir, 'metrics.csv'));
  return {
    dir, hparams: readJson(src, join(dir, 'hparams.json')), metrics: csv === null ? [] : safeMetrics(csv, dir),
    testAccuracy: done && typeof done.testAccuracy === 'number' ? done.testAccuracy : null,
  };
}

function readJson(src: ResultSource, path: string): any {
  const text = src.read(path);
  if (text === null) return null;
  try { return JSON.parse(text); } catch { return null; }
}

/** A run killed mid-write can leave a torn last line; the rows before it are still good. */
function safeMetrics(csv: string, dir: string): MetricRow[] {
  return csv.split('\n').flatMap((line) => {
    try { return parseMetrics(line, `${dir}/metrics.csv`); } catch { return []; }
  });
}
