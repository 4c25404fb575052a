// `earlyphase profile`: per-dispatch times grouped by kernel and by layer, and the text tables.
// Pure functions over plain numbers (no GPU), so the grouping rules are unit-tested on their own.

/** The kernel of a dispatch label `entry(tensor)`: the shader entry point before the parenthesis. */
export function kernelOf(label: string): string {
  const p = label.indexOf('(');
  return (p < 0 ? label : label.slice(0, p)).trim();
}

/** Arena labels (src/nn/compile.ts): parameter-sized tensors are named `<arena>.<parameter>`. */
const ARENAS = new Set(['params', 'grads', 'momenta', 'masks', 'bn_stats']);
/** Name segments that say what a tensor is rather than which layer it belongs to. */
const ROLES = new Set(['out', 'dx', 'weight', 'bias', 'running_mean', 'running_var', 'saved_mean', 'saved_invstd',
  'relu', 'sum', 'gap', 'maxpool2', 'avgpool']);

/**
 * The layer of a dispatch label `entry(tensor)`: the tensor name in the parentheses (the output
 * side of `a → b`), without its arena prefix (`grads.`, `params.`, …) and cut at its first role
 * segment (`.out`, `.dx`, `.weight`, `.bias`, `.relu`, `.sum`, pooling). So
 * `conv2d_forward(blocks.0.conv1.out)`, `conv2d_backward_weight(grads.blocks.0.conv1.weight)` and
 * `conv2d_backward_input(blocks.0.conv1.dx)` are all layer `blocks.0.conv1`; unnamed nodes keep the
 * compiler's tag (`relu_backward(l3.body.2.relu.dx)` → `l3.body.2`, a residual sum `l3.sum` → `l3`).
 * A whole arena (the optimiser's `sgd_masked(params)`) is layer `params`; the batch gather writes
 * `input`. A label without parentheses has layer `-`.
 */
export function layerOf(label: string): string {
  const open = label.indexOf('('), close = label.lastIndexOf(')');
  if (open < 0 || close < open) return '-';
  let name = label.slice(open + 1, close).trim();
  const arrow = name.lastIndexOf('→');
  if (arrow >= 0) name = name.slice(arrow + 1).trim();
  const parts = name.split('.');
  if (parts.length > 1 && ARENAS.has(parts[0]!)) parts.shift();
  const cut = parts.findIndex((p, i) => i > 0 && ROLES.has(p));
  return (cut < 0 ? parts : parts.slice(0, cut)).join('.') || '-';
}

export interface DispatchTime {
  index: number;
  label: string;
  kernel: string;
  layer: string;
  /** Median GPU milliseconds over the profiled steps. */
  ms: number;
  /** Every step's milliseconds, in order. */
  samples: number[];
  flops: number | null;
  bytes: number;
  gflops: number | null;
  gbps: number;
}

export interface GroupTime {
  name: string;
  count: number;
  ms: number;
  /** Share of the sum of all dispatch times of the step, in percent. */
  percent: number;
  /** Operations of the dispatches that state them (null: none does). */
  flops: number | null;
  bytes: number;
  /** flops / time of the dispatches that state flops; null where none does. */
  gflops: number | null;
  /** Bound bytes / time of the group (an estimate, see Dispatch.bytes). */
  gbps: number | null;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const rate = (amount: number, ms: number): number | null => ms > 0 ? amount / ms / 1e6 : null;

/** One row per dispatch from its label, cost and per-step samples. */
export function dispatchTimes(list: readonly { label: string; flops?: number; bytes: number }[], samples: readonly (readonly number[])[]): DispatchTime[] {
  return list.map((d, i) => {
    const s = samples.map((step) => step[i]!);
    const ms = median(s);
    const flops = d.flops ?? null;
    return {
      index: i, label: d.label, kernel: kernelOf(d.label), layer: layerOf(d.label), ms, samples: s,
      flops, bytes: d.bytes, gflops: flops === null ? null : rate(flops, ms), gbps: rate(d.bytes, ms) ?? 0,
    };
  });
}

/** Groups dispatch rows by `key`, slowest group first; percentages are of the total over all rows. */
export function group(rows: readonly DispatchTime[], key: (r: DispatchTime) => string): GroupTime[] {
  const total = rows.reduce((a, r) => a + r.ms, 0);
  const groups = new Map<string, DispatchTime[]>();
  for (const r of rows) {
    const k = key(r);
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups].map(([name, rs]) => {
    const ms = rs.reduce((a, r) => a + r.ms, 0);
    const withFlops = rs.filter((r) => r.flops !== null);
    const flops = withFlops.length ? withFlops.reduce((a, r) => a + r.flops!, 0) : null;
    const bytes = rs.reduce((a, r) => a + r.bytes, 0);
    return {
      name, count: rs.length, ms, percent: total > 0 ? (100 * ms) / total : 0, flops, bytes,
      gflops: flops === null ? null : rate(flops, withFlops.reduce((a, r) => a + r.ms, 0)), gbps: rate(bytes, ms),
    };
  }).sort((a, b) => b.ms - a.ms || a.name.localeCompare(b.name));
}

// ---- text output ----

export function fmtMs(ms: number): string {
  const a = Math.abs(ms);
  return a >= 100 ? ms.toFixed(0) : a >= 10 ? ms.toFixed(1) : a >= 1 ? ms.toFixed(2) : ms.toFixed(3);
}
const fmtRate = (v: number | null) => v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1);

export function table(headers: string[], rows: string[][], leftColumns = 1): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => i < leftColumns ? c.padEnd(w[i]!) : c.padStart(w[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function groupTable(title: string, groups: readonly GroupTime[]): string {
  return table([title, 'count', 'total ms', '% step', 'GFLOP/s', 'GB/s'],
    groups.map((g) => [g.name, String(g.count), fmtMs(g.ms), g.percent.toFixed(1), fmtRate(g.gflops), fmtRate(g.gbps)]));
}

export function dispatchTable(rows: readonly DispatchTime[], total: number): string {
  return table(['#', 'dispatch', 'ms', '% step', 'GFLOP/s', 'GB/s'],
    rows.map((r) => [String(r.index), r.label, fmtMs(r.ms), (total > 0 ? (100 * r.ms) / total : 0).toFixed(1), fmtRate(r.gflops), fmtRate(r.gbps)]), 2);
}
