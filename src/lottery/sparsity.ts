// The sparsity report written next to every level's mask (OpenLTH's sparsity_report.json). The
// top-level {total, unpruned} keep OpenLTH's meaning — counts over every tensor in the mask, i.e.
// every prunable tensor including ignored ones — so density = unpruned / total compares directly
// with OpenLTH runs and with 0.8^L. Per-tensor counts are our addition (layerwise views, plots).
import type { ModelSpec } from '../nn/graph.ts';
import { checkMask, type Layout } from './mask.ts';

export interface SparsityReport {
  total: number;
  unpruned: number;
  tensors: Record<string, { total: number; unpruned: number }>;
}

export function sparsityReport(spec: ModelSpec, layout: Layout, mask: Float32Array): SparsityReport {
  const report: SparsityReport = { total: 0, unpruned: 0, tensors: {} };
  for (const t of checkMask(spec, layout, mask)) {
    if (!t.prunable) continue;
    let kept = 0;
    for (let i = t.offset; i < t.offset + t.size; i++) kept += mask[i]!;
    report.tensors[t.name] = { total: t.size, unpruned: kept };
    report.total += t.size;
    report.unpruned += kept;
  }
  return report;
}
