// Sweeps: one spec expands into the runs a figure of the paper needs — replicates × rewind points
// (or pre-training tasks) × lottery levels, plus branches and instability analyses on each trunk.
// Everything is parsed and validated before anything runs; each run is the ordinary lottery /
// branch / instability stage, so finished work is skipped and killed work resumes.
import { HparamsError } from '../errors.ts';
import { parseLotteryArgv, type LotteryOptions } from './options.ts';
import { parseLevels } from './levels.ts';
import { resolveBranch } from './branch.ts';
import type { Hparams } from '../train/hparams.ts';
import { tensorSeed } from '../nn/init.ts';

export interface SweepSpec {
  name: string;
  /** Flags shared by every run (hyperparameters, as on the command line). */
  flags: string[];
  levels: string;
  replicates: number[];
  /** One lottery per rewind point… */
  rewinding_steps?: string[];
  /** …or per pre-training variant (extra flags such as --pretrain-unsupervised-labels rotation). */
  pretrain?: { label: string; flags: string[] }[];
  branches?: { name: string; options?: Record<string, string>; levels: string }[];
  instability?: { levels: string; points: number };
  telemetry?: boolean;
  /** Evaluate on the test set only at the end of each run (faster sweeps). */
  evaluate_only_at_end?: boolean;
}

const KEYS = new Set(['name', 'flags', 'levels', 'replicates', 'rewinding_steps', 'pretrain', 'branches', 'instability', 'telemetry', 'evaluate_only_at_end', 'description']);

export type SweepJob =
  | (JobBase & { kind: 'lottery'; maxLevel: number; withTelemetry: boolean })
  | (JobBase & { kind: 'branch'; branch: string; options: Record<string, string>; levels: number[]; seed: number })
  | (JobBase & { kind: 'instability'; level: number; points: number });

interface JobBase { label: string; hparams: Hparams; lottery: LotteryOptions; replicate: number; evaluateOnlyAtEnd: boolean }

function fail(key: string, what: string): never {
  throw new HparamsError(`sweep spec: ${key}: ${what}`);
}

/** Checks the spec's shape; unknown keys and wrong types are errors naming the key. */
export function validateSweep(raw: unknown, source: string): SweepSpec {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(source, 'expected a JSON object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) fail(k, `unknown key in ${source} (expected ${[...KEYS].join(', ')})`);
  const strings = (k: string, v: unknown) => { if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(k, 'expected a list of strings'); return v as string[]; };
  if (typeof o.name !== 'string' || !/^[a-z0-9_-]+$/i.test(o.name)) fail('name', 'expected a name of letters, digits, - and _');
  strings('flags', o.flags);
  if (typeof o.levels !== 'string') fail('levels', 'expected a level string like "0-8"');
  if (!Array.isArray(o.replicates) || !o.replicates.length || !o.replicates.every((r) => Number.isInteger(r) && r >= 1)) fail('replicates', 'expected a list of positive integers');
  if (o.rewinding_steps !== undefined) strings('rewinding_steps', o.rewinding_steps);
  if (o.pretrain !== undefined && (!Array.isArray(o.pretrain) || !o.pretrain.every((p) => typeof p?.label === 'string' && Array.isArray(p?.flags)))) fail('pretrain', 'expected a list of {label, flags}');
  if (o.rewinding_steps !== undefined && o.pretrain !== undefined) fail('pretrain', 'give rewinding_steps or pretrain, not both');
  if (o.branches !== undefined && (!Array.isArray(o.branches) || !o.branches.every((b) => typeof b?.name === 'string' && typeof b?.levels === 'string'))) fail('branches', 'expected a list of {name, options?, levels}');
  if (o.instability !== undefined && (typeof (o.instability as any)?.levels !== 'string' || !Number.isInteger((o.instability as any)?.points))) fail('instability', 'expected {levels, points}');
  for (const k of ['telemetry', 'evaluate_only_at_end']) if (o[k] !== undefined && typeof o[k] !== 'boolean') fail(k, 'expected true or false');
  return o as unknown as SweepSpec;
}

/** Expands a spec into jobs, parsing every flag, level string and branch option on the way. */
export function expandSweep(spec: SweepSpec): SweepJob[] {
  const levels = parseLevels(spec.levels);
  const maxLevel = Math.max(...levels);
  const variants = spec.pretrain
    ? spec.pretrain.map((p) => ({ label: `pretrain ${p.label}`, flags: ['--pretrain', ...p.flags] }))
    : (spec.rewinding_steps ?? ['0it']).map((k) => ({ label: `rewind ${k}`, flags: ['--rewinding-steps', k] }));
  const jobs: SweepJob[] = [];
  for (const replicate of spec.replicates) {
    for (const v of variants) {
      const { hparams, lottery, rest } = parseLotteryArgv([...spec.flags, ...v.flags]);
      if (rest.length) fail('flags', `unknown argument ${rest.join(' ')}`);
      const base = { hparams, lottery, replicate, evaluateOnlyAtEnd: !!spec.evaluate_only_at_end };
      jobs.push({ kind: 'lottery', label: `${v.label}, replicate ${replicate}`, ...base, maxLevel, withTelemetry: !!spec.telemetry });
      for (const b of spec.branches ?? []) {
        const bl = parseLevels(b.levels, 'only', `branches[${b.name}].levels`);
        if (Math.max(...bl) > maxLevel) fail('branches', `${b.name} levels ${b.levels} go past the sweep's levels ${spec.levels}`);
        const job = { kind: 'branch' as const, label: `${b.name} (${v.label}), replicate ${replicate}`, ...base, branch: b.name, options: b.options ?? {}, levels: bl,
          seed: tensorSeed(replicate, `branch:${b.name}`) };
        resolveBranch({ ...job, maxLevel });
        jobs.push(job);
      }
      if (spec.instability) {
        for (const level of parseLevels(spec.instability.levels)) {
          if (level > maxLevel) fail('instability', `level ${level} is past the sweep's levels ${spec.levels}`);
          jobs.push({ kind: 'instability', label: `instability level ${level} (${v.label}), replicate ${replicate}`, ...base, level, points: spec.instability.points });
        }
      }
    }
  }
  return jobs;
}
