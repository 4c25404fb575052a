// Metric rows `name,iteration,value` (OpenLTH's logger format), read by the CLI report and the
// viewer alike.
import { CorruptFileError } from './storage.ts';

export interface MetricRow { name: string; iteration: number; value: number }

export function formatMetrics(rows: readonly MetricRow[]): string {
  return rows.map((r) => `${r.name},${r.iteration},${r.value}`).join('\n') + (rows.length ? '\n' : '');
}

export function parseMetrics(csv: string, file: string): MetricRow[] {
  const out: MetricRow[] = [];
  for (const [i, line] of csv.split('\n').entries()) {
    if (line.trim() === '') continue;
    const [name, it, value, extra] = line.split(',');
    const iteration = Number(it), v = Number(value);
    if (!name || extra !== undefined || !Number.isInteger(iteration) || iteration < 0 || value === undefined || value.trim() === '' || Number.isNaN(v) && value !== 'NaN') {
      throw new CorruptFileError(file, `line ${i + 1}: expected "name,iteration,value", got "${line}"`);
    }
    out.push({ name, iteration, value: v });
  }
  return out;
}
