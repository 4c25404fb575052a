// The report's numbers as tables for other tools: one row per finished run (a lottery level's
// trunk or branch, a train run), written by `earlyphase report` as results.csv and results.json.
import type { Collected } from './collect.ts';
import { branchLabel, trunkLabels } from './figures.ts';

export interface ResultRow {
  experiment: string;
  kind: 'lottery' | 'branch' | 'train';
  /** "rewind to 10it", a branch label ("gaussian_noise alpha=1 scale=init_std"), or the train run's folder. */
  label: string;
  replicate: number;
  level: number | null;
  /** Fraction of prunable weights left; null where unknown or not a lottery. */
  remaining: number | null;
  /** Rewind point k in iterations (lotteries); null where not derivable. */
  rewind_iteration: number | null;
  test_accuracy: number | null;
  folder: string;
}

export function resultRows(c: Collected): ResultRow[] {
  const rows: ResultRow[] = [];
  const labels = trunkLabels(c.lotteries);
  for (const l of c.lotteries) {
    for (const r of l.replicates) {
      for (const lv of r.levels) {
        const common = { experiment: l.name, replicate: r.replicate, level: lv.level, remaining: lv.remaining, rewind_iteration: l.rewindIteration };
        if (lv.main) rows.push({ ...common, kind: 'lottery', label: labels.get(l.name)!, test_accuracy: lv.main.testAccuracy, folder: lv.main.dir });
        for (const b of lv.branches) rows.push({ ...common, kind: 'branch', label: branchLabel(b), test_accuracy: b.testAccuracy, folder: b.dir });
      }
    }
  }
  for (const t of c.trains) {
    rows.push({ experiment: t.name, kind: 'train', label: t.name, replicate: t.replicate, level: null, remaining: null, rewind_iteration: null,
      test_accuracy: t.run.testAccuracy, folder: t.run.dir });
  }
  return rows;
}

const COLUMNS: (keyof ResultRow)[] = ['experiment', 'kind', 'label', 'replicate', 'level', 'remaining', 'rewind_iteration', 'test_accuracy', 'folder'];

/** RFC 4180 CSV: a header, then one line per row; empty cells for nulls; quotes where needed. */
export function resultsCsv(rows: readonly ResultRow[]): string {
  const cell = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [COLUMNS.join(','), ...rows.map((r) => COLUMNS.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}
