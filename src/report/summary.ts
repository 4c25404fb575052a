// The plain-text summary printed by `earlyphase report`: per lottery a table of level, weights
// remaining and final test accuracy per replicate (and their mean) for the trunk and each branch,
// then instability barriers, then what is missing.
import type { Collected, LotteryRecord } from './collect.ts';
import { branchLabel, trunkLabels } from './figures.ts';

const pct = (x: number) => `${(100 * x).toFixed(2)}`;

/** "72.28 / 73.64 (72.96)": replicates in order, '—' where one has no result, mean in brackets. */
function cell(values: readonly (number | null)[]): string {
  const have = values.filter((v): v is number => v !== null);
  if (!have.length) return '—';
  const each = values.map((v) => (v === null ? '—' : pct(v))).join(' / ');
  return values.length > 1 ? `${each} (${pct(have.reduce((a, b) => a + b, 0) / have.length)})` : each;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

function lotterySummary(l: LotteryRecord, trunk: string): string {
  const reps = l.replicates;
  const levels = [...new Set(reps.flatMap((r) => r.levels.map((lv) => lv.level)))].sort((a, b) => a - b);
  const branches = [...new Set(reps.flatMap((r) => r.levels.flatMap((lv) => lv.branches.map(branchLabel))))].sort();
  const head = ['level', 'remaining', `${trunk} (test acc. %, replicates ${reps.map((r) => r.replicate).join(' / ')})`, ...branches];
  const rows = levels.map((level) => {
    const at = reps.map((r) => r.levels.find((lv) => lv.level === level));
    const remaining = at.find((lv) => lv?.remaining != null)?.remaining;
    return [String(level), remaining == null ? '?' : `${pct(remaining)}%`, cell(at.map((lv) => lv?.main?.testAccuracy ?? null)),
      ...branches.map((b) => cell(at.map((lv) => lv?.branches.find((x) => branchLabel(x) === b)?.testAccuracy ?? null)))];
  });
  const lines = [`${l.name} (${trunk})`, table([head, ...rows])];
  const barriers = reps.flatMap((r) => r.levels.flatMap((lv) => lv.instability.map((i) => `level ${lv.level} replicate ${r.replicate}: ${pct(i.barrier)} points`)));
  if (barriers.length) lines.push(`instability (error barrier): ${barriers.join('; ')}`);
  return lines.join('\n');
}

export function formatSummary(c: Collected): string {
  const labels = trunkLabels(c.lotteries);
  const parts = c.lotteries.map((l) => lotterySummary(l, labels.get(l.name)!));
  if (c.trains.length) {
    parts.push(table([['run', 'replicate', 'test acc. %'],
      ...c.trains.map((t) => [t.name, String(t.replicate), t.run.testAccuracy === null ? '—' : pct(t.run.testAccuracy)])]));
  }
  if (!parts.length) parts.push('no train_* or lottery_* folders found');
  if (c.missing.length) parts.push(`missing or partial (${c.missing.length}):\n${c.missing.map((m) => `  ${m}`).join('\n')}`);
  return parts.join('\n\n');
}
