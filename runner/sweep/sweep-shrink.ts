// Sweep presets sized down from the command line (--replicates, --levels, --training-steps), and
// the dry run's per-job view: each job's folders and whether they are finished. A shrunk sweep is
// still an ordinary spec: every folder name follows from its hyperparameters, so a later full
// sweep reuses what a shrunk one finished wherever the two agree.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HparamsError } from '../../src/errors.ts';
import { formatLevels, parseLevels } from '../../src/lottery/levels.ts';
import { resolveBranch } from '../../src/lottery/branch.ts';
import { instabilityDir } from '../../src/lottery/instability.ts';
import type { SweepJob, SweepSpec } from '../../src/lottery/sweep.ts';
import { instabilitySeeds, trunkFolder } from './sweep-job.ts';

export interface Shrink { replicates?: string; levels?: string; trainingSteps?: string }

/** "1-3,5" → [1, 2, 3, 5] (positive integers and inclusive ranges). */
export function parseReplicates(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = m ? Number(m[1]) : NaN, hi = m?.[2] !== undefined ? Number(m[2]) : lo;
    if (!m || lo < 1 || hi < lo || hi > 1000) throw new HparamsError(`--replicates "${text}": expected positive integers and ranges like 1-3,5`);
    for (let r = lo; r <= hi; r++) out.add(r);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * The spec with fewer replicates, levels or training steps. Branch and instability levels past the
 * new last level are dropped (a branch with none left goes), and the name says it was shrunk.
 */
export function shrinkSweep(spec: SweepSpec, s: Shrink): SweepSpec {
  if (!s.replicates && !s.levels && !s.trainingSteps) return spec;
  const out: SweepSpec = { ...spec, flags: [...spec.flags] };
  if (s.replicates) out.replicates = parseReplicates(s.replicates);
  if (s.levels) {
    const max = Math.max(...parseLevels(s.levels));
    out.levels = s.levels;
    const keep = (levels: string, lone: 'through' | 'only') => parseLevels(levels, lone).filter((l) => l <= max);
    out.branches = spec.branches?.flatMap((b) => {
      const left = keep(b.levels, 'only');
      return left.length ? [{ ...b, levels: formatLevels(left) }] : [];
    });
    if (spec.instability) {
      const left = keep(spec.instability.levels, 'through');
      out.instability = left.length ? { ...spec.instability, levels: formatLevels(left) } : undefined;
    }
  }
  if (s.trainingSteps) {
    const at = out.flags.findIndex((f) => f === '--training-steps' || f === '--training_steps');
    if (at >= 0) out.flags.splice(at, 2, '--training-steps', s.trainingSteps);
    else out.flags.push('--training-steps', s.trainingSteps);
  }
  out.name = `${spec.name}-shrunk`;
  return out;
}

/** Each folder a job writes, and whether its result is there (done.json). */
export function jobFolders(j: SweepJob): string[] {
  const t = trunkFolder(j);
  if (j.kind === 'lottery') return Array.from({ length: j.maxLevel + 1 }, (_, l) => `${t}/level_${l}/main`);
  if (j.kind === 'branch') {
    const { hash } = resolveBranch({ ...j, maxLevel: Math.max(...j.levels) });
    return j.levels.map((l) => `${t}/level_${l}/branch_${j.branch}_${hash}`);
  }
  return [instabilityDir(t, { level: j.level, seeds: instabilitySeeds(j), points: j.points })];
}

/** "done", "2 of 4 done", "not started" for a job's folders under root. */
export function jobStatus(root: string, j: SweepJob): string {
  const folders = jobFolders(j);
  const done = folders.filter((f) => existsSync(join(root, f, j.kind === 'instability' ? 'instability.json' : 'done.json'))).length;
  return done === folders.length ? 'done' : done === 0 ? 'not started' : `${done} of ${folders.length} done`;
}
