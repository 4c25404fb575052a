// The field-spec language of hyperparameter groups. One spec per field carries everything the
// rest of the system needs: the type and range (validation), the no-effect default (hashing),
// and the help text (CLI --help and docs/hyperparameters.md). GroupSchema<T> is checked by the compiler
// against the group's interface, so a field cannot be added to one and forgotten in the other.
import { HparamsError } from '../../errors.ts';

import { canonicalStep, parseStepList } from '../steps.ts';

interface Common { readonly help: string }

/** One of a fixed set of strings. */
export interface EnumSpec<V extends string = string> extends Common {
  readonly kind: 'enum'; readonly values: readonly V[]; readonly default?: V;
}
/** A real number in a range; bounds are inclusive unless marked exclusive. */
export interface NumberSpec extends Common {
  readonly kind: 'number'; readonly min?: number; readonly max?: number;
  readonly minExclusive?: boolean; readonly maxExclusive?: boolean; readonly default?: number;
}
export interface IntegerSpec extends Common {
  readonly kind: 'integer'; readonly min?: number; readonly max?: number; readonly default?: number;
}
/** Booleans are presence flags that default to false (OpenLTH's rule), so absence never changes a hash. */
export interface BooleanSpec extends Common { readonly kind: 'boolean' }
/** A single step string ("160ep"), stored canonically. */
export interface StepSpec extends Common { readonly kind: 'step'; readonly default?: string }
/** Free text checked by `check`, which returns what was expected when the value is bad. */
export interface StringSpec extends Common {
  readonly kind: 'string'; readonly check?: (v: string) => string | undefined; readonly default?: string;
}
/** A comma-separated list on the command line, an array in JSON: of steps or of tensor names. */
export interface ListSpec extends Common { readonly kind: 'list'; readonly item: 'step' | 'name' }

export type AnySpec = EnumSpec | NumberSpec | IntegerSpec | BooleanSpec | StepSpec | StringSpec | ListSpec;

/** The spec kinds allowed for a value type V (without undefined). */
type SpecFor<V> =
  [V] extends [boolean] ? BooleanSpec :
  [V] extends [number] ? NumberSpec | IntegerSpec :
  [V] extends [readonly string[]] ? ListSpec :
  [V] extends [string] ? (string extends V ? StringSpec | StepSpec : EnumSpec<V>) :
  never;

/** Fields typed `x?: V` must be marked optional in the schema (and vice versa). */
type FieldSpec<T> = undefined extends T
  ? SpecFor<Exclude<T, undefined>> & { readonly optional: true }
  : SpecFor<T> & { readonly optional?: false };

export type GroupSchema<T> = { readonly [K in keyof T]-?: FieldSpec<T[K]> };

/** A group: its name in JSON and the hash, a title for --help, and its fields. */
export interface GroupDef<T> {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly fields: GroupSchema<T>;
}

/** Field specs seen without their group's static type (for generic code: CLI, JSON, docs). */
export type LooseSpec = AnySpec & { readonly optional?: boolean };
export function fieldsOf(group: GroupDef<object>): [string, LooseSpec][] {
  return Object.entries(group.fields as Record<string, LooseSpec>);
}

/** The value a field takes when nobody sets it: its schema default, false for flags, else unset. */
export function noEffectDefault(spec: LooseSpec): unknown {
  if (spec.kind === 'boolean') return false;
  return 'default' in spec ? spec.default : undefined;
}

/** A field without a default and not optional must be given (by a preset or a flag). */
export function isRequired(spec: LooseSpec): boolean {
  return spec.kind !== 'boolean' && !spec.optional && noEffectDefault(spec) === undefined;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const NUMBER_RE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const INTEGER_RE = /^[+-]?[0-9]+$/;

/** Describes the accepted values, for error messages and --help. */
export function expectedText(spec: LooseSpec): string {
  switch (spec.kind) {
    case 'enum': return `one of ${spec.values.join(', ')}`;
    case 'boolean': return 'true or false';
    case 'step': return 'a step like 160ep, 500it or 1ep109it';
    case 'list': return spec.item === 'step'
      ? 'comma-separated steps like 80ep,120ep'
      : 'comma-separated tensor names like fc.weight,conv.weight';
    case 'string': return 'a string';
    case 'integer': return `an integer${rangeText(spec.min, spec.max, false, false)}`;
    case 'number': return `a number${rangeText(spec.min, spec.max, spec.minExclusive, spec.maxExclusive)}`;
  }
}

function rangeText(min?: number, max?: number, minEx?: boolean, maxEx?: boolean): string {
  if (min !== undefined && max !== undefined) return ` in ${minEx ? '(' : '['}${min}, ${max}${maxEx ? ')' : ']'}`;
  if (min !== undefined) return ` ${minEx ? '>' : '>='} ${min}`;
  if (max !== undefined) return ` ${maxEx ? '<' : '<='} ${max}`;
  return '';
}

function bad(key: string, value: unknown, spec: LooseSpec, why?: string): Error {
  // JSON.stringify would show Infinity and NaN as "null"; numbers are shown as they are.
  const shown = typeof value === 'number' ? String(value) : JSON.stringify(value);
  return new HparamsError(`${key}: invalid value ${shown}${why ? ` (${why})` : ''}; expected ${expectedText(spec)}`);
}

/**
 * Checks a typed value (from JSON or code) against its spec and returns it in canonical form
 * (steps respelled canonically, lists copied). `key` names the value in errors, e.g. "training.lr"
 * or "hparams.json: training.lr".
 */
export function checkValue(spec: LooseSpec, value: unknown, key: string): unknown {
  switch (spec.kind) {
    case 'boolean':
      if (typeof value !== 'boolean') throw bad(key, value, spec);
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) throw bad(key, value, spec);
      return value;
    case 'string': {
      if (typeof value !== 'string' || value === '') throw bad(key, value, spec, 'must be a non-empty string');
      const expected = spec.check?.(value);
      if (expected !== undefined) throw new HparamsError(`${key}: invalid value ${JSON.stringify(value)}; expected ${expected}`);
      return value;
    }
    case 'step':
      if (typeof value !== 'string') throw bad(key, value, spec);
      return canonicalStep(value, key);
    case 'list': {
      if (!Array.isArray(value) || value.length === 0) throw bad(key, value, spec, 'must be a non-empty list');
      return value.map((item, i) => {
        const where = `${key}[${i}]`;
        if (typeof item !== 'string') throw bad(where, item, spec);
        if (spec.item === 'step') return canonicalStep(item, where);
        if (!NAME_RE.test(item)) throw bad(where, item, spec, 'not a tensor name');
        return item;
      });
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw bad(key, value, spec);
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        throw bad(key, value, spec, 'out of range');
      }
      return value;
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw bad(key, value, spec);
      const low = spec.min !== undefined && (spec.minExclusive ? value <= spec.min : value < spec.min);
      const high = spec.max !== undefined && (spec.maxExclusive ? value >= spec.max : value > spec.max);
      if (low || high) throw bad(key, value, spec, 'out of range');
      return value;
    }
  }
}

/** Parses a command-line string for a field, then checks it like any other value. */
export function parseText(spec: LooseSpec, text: string, key: string): unknown {
  switch (spec.kind) {
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      throw bad(key, text, spec);
    case 'integer':
      if (!INTEGER_RE.test(text)) throw bad(key, text, spec);
      if (!Number.isSafeInteger(Number(text))) throw bad(key, text, spec, 'too large to count exactly');
      return checkValue(spec, Number(text), key);
    case 'number':
      // Strict: Number() would also take "", "0x10" and "Infinity".
      if (!NUMBER_RE.test(text)) throw bad(key, text, spec);
      // "1e400" matches the pattern but is Infinity as a float: name the text the user wrote.
      if (!Number.isFinite(Number(text))) throw bad(key, text, spec, 'too large for a 64-bit float');
      return checkValue(spec, Number(text), key);
    case 'list':
      return spec.item === 'step'
        ? parseStepList(text, key)
        : checkValue(spec, text.split(',').map(s => s.trim()), key);
    default:
      return checkValue(spec, text, key);
  }
}

/** The command-line spelling of a value (the inverse of parseText), for --help and docs. */
export function formatValue(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}
