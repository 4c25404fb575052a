// Hyperparameters from the command line: key/value pairs or raw argv → a checked Hparams.
// Flags are kebab-case (--batch-size); OpenLTH's underscore spelling (--batch_size) is the same
// flag, so commands copied from OpenLTH's README work. `--default-hparams NAME` loads a preset
// first; other flags override it, in any order. An empty value (--gamma=) unsets an optional field.
import { HparamsError } from '../../errors.ts';

import { fieldsOf, parseText, isRequired, type LooseSpec } from './schema.ts';
import { GROUPS, GROUP_NAMES, type GroupName, type Hparams } from './groups.ts';
import { FIELD_GROUP, validateHparams } from './build.ts';
import { presetHparams } from '../presets.ts';

export const PRESET_KEY = 'default_hparams';

/** "--batch-size", "batch_size", "--batch_size" → "batch_size". */
export function normalizeKey(raw: string): string {
  return raw.replace(/^--?/, '').replaceAll('-', '_');
}

export function flagOf(key: string): string {
  return `--${key.replaceAll('_', '-')}`;
}

/** True for every flag parseHparams understands (including --default-hparams), in either spelling. */
export function isHparamFlag(raw: string): boolean {
  const key = normalizeKey(raw.split('=')[0]!);
  return key === PRESET_KEY || FIELD_GROUP.has(key);
}

function specOf(key: string): [GroupName, LooseSpec] | undefined {
  const g = FIELD_GROUP.get(key);
  return g && [g, (GROUPS[g].fields as Record<string, LooseSpec>)[key]!];
}

/** Pairs from a flag parser: a boolean flag given bare arrives as `true`. */
export type HparamPairs = Iterable<readonly [string, string | boolean]> | Readonly<Record<string, string | boolean>>;

/**
 * Parses flag/value pairs into checked Hparams. Unknown keys, repeated keys, bad values and
 * (without a preset) missing required fields are errors that name the flag and what is expected.
 */
export function parseHparams(pairs: HparamPairs): Hparams {
  const entries: (readonly [string, string | boolean])[] =
    Symbol.iterator in pairs ? [...(pairs as Iterable<readonly [string, string | boolean]>)] : Object.entries(pairs);
  let preset: string | undefined;
  const seen = new Map<string, string>();
  const updates: [GroupName, string, unknown][] = [];
  for (const [rawKey, raw] of entries) {
    const key = normalizeKey(rawKey);
    const flag = flagOf(key);
    if (seen.has(key)) throw new HparamsError(`${flag} is given twice (as ${seen.get(key)} and ${rawKey}); give it once`);
    seen.set(key, rawKey);
    if (key === PRESET_KEY) {
      if (typeof raw !== 'string' || raw === '') throw new HparamsError(`${flag} needs a preset name, e.g. ${flag}=cifar_resnet_20`);
      preset = raw;
      continue;
    }
    const found = specOf(key);
    if (!found) throw new HparamsError(`unknown hyperparameter ${JSON.stringify(rawKey)}${suggest(key)}; see --help for the list`);
    const [g, spec] = found;
    if (typeof raw === 'boolean') {
      if (spec.kind !== 'boolean') throw new HparamsError(`${flag} needs a value: ${flag}=<${describeType(spec)}>`);
      updates.push([g, key, raw]);
    } else if (raw === '' && spec.optional) {
      updates.push([g, key, undefined]);
    } else {
      updates.push([g, key, parseText(spec, raw, flag)]);
    }
  }

  const base = preset !== undefined ? presetHparams(preset) : emptyHparams();
  const groups = base as unknown as Record<GroupName, Record<string, unknown>>;
  for (const [g, key, value] of updates) {
    if (value === undefined) delete groups[g][key];
    else groups[g][key] = value;
  }
  if (preset === undefined) {
    const missing = requiredKeys().filter(k => !seen.has(k));
    if (missing.length) {
      throw new HparamsError(`missing required hyperparameters ${missing.map(flagOf).join(', ')}; ` +
        `give them, or load a preset with --default-hparams NAME (e.g. cifar_resnet_20)`);
    }
  }
  return validateHparams(base, 'flags');
}

function emptyHparams(): Hparams {
  return Object.fromEntries(GROUP_NAMES.map(g => [g, {}])) as unknown as Hparams;
}

function requiredKeys(): string[] {
  return GROUP_NAMES.flatMap(g => fieldsOf(GROUPS[g]).filter(([, s]) => isRequired(s)).map(([k]) => k));
}

/**
 * Takes the hyperparameter flags out of raw argv (`--k=v`, `--k v`, bare boolean `--flag`) and
 * returns the rest in order for the caller's own flags and positionals. Everything after `--`
 * is left alone. Boolean flags never take the next token as their value; use `--flag=false`.
 */
export function parseHparamArgv(argv: readonly string[]): { hparams: Hparams; rest: string[] } {
  const pairs: [string, string | boolean][] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') { rest.push(...argv.slice(i)); break; }
    if (!token.startsWith('--') || !isHparamFlag(token)) { rest.push(token); continue; }
    const eq = token.indexOf('=');
    if (eq >= 0) { pairs.push([token.slice(0, eq), token.slice(eq + 1)]); continue; }
    const key = normalizeKey(token);
    if (specOf(key)?.[1].kind === 'boolean') { pairs.push([token, true]); continue; }
    const value = argv[i + 1];
    if (value === undefined) throw new HparamsError(`${token} needs a value`);
    pairs.push([token, value]);
    i++;
  }
  return { hparams: parseHparams(pairs), rest };
}

/** Placeholder text for a field's value. */
export function describeType(spec: LooseSpec): string {
  switch (spec.kind) {
    case 'enum': return spec.values.join('|');
    case 'list': return spec.item === 'step' ? 'steps,...' : 'names,...';
    case 'string': return 'name';
    default: return spec.kind;
  }
}

/** Close spellings of an unknown key (edit distance ≤ 3), as a message suffix. */
function suggest(key: string): string {
  const near = [...FIELD_GROUP.keys(), PRESET_KEY].filter(k => editDistance(k, key) <= 3);
  return near.length ? ` (did you mean ${near.map(flagOf).join(' or ')}?)` : '';
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
