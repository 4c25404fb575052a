// Run-folder snapshots for the kill and corruption tests: every file under a root (dot-files,
// i.e. temp files, included) with its bytes, and the differences between two snapshots. The
// run-folder lock's files (.lock-*, runner/storage/run-lock.ts) are left out: they record which process
// held the folder when (a killed run's successor takes over), not a result.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function tree(root: string, dir = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(join(root, dir)).sort()) {
    if (name.startsWith('.lock-')) continue;
    const rel = dir ? `${dir}/${name}` : name;
    if (statSync(join(root, rel)).isDirectory()) for (const [k, v] of tree(root, rel)) out.set(k, v);
    else out.set(rel, readFileSync(join(root, rel)));
  }
  return out;
}

/** "missing x", "extra y", "differs z" lines; empty when the two trees are byte-identical. */
export function treeDiff(want: Map<string, Buffer>, got: Map<string, Buffer>): string[] {
  const out: string[] = [];
  for (const [k, v] of want) {
    const g = got.get(k);
    if (!g) out.push(`missing ${k}`);
    else if (!g.equals(v)) out.push(`differs ${k}`);
  }
  for (const k of got.keys()) if (!want.has(k)) out.push(`extra ${k}`);
  return out;
}

/** `k` of `n` indices (1-based), evenly spaced and always the same: the deterministic sample. */
export function evenSample(n: number, k: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i + 1);
  return [...new Set(Array.from({ length: k }, (_, i) => Math.min(n, Math.floor(((i + 0.5) * n) / k) + 1)))];
}
