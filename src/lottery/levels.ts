// Which pruning levels a command runs. OpenLTH has two spellings: the lottery runner's
// `--levels N` (an integer: run levels 0..N) and the branch runner's `--levels 1,2-4,9` (a list of
// levels and inclusive ranges). We accept both in one string: a lone integer N means 0..N (the
// common case, "run IMP for N levels"); anything with a comma or a dash is the list form, where
// a bare integer is that one level ("2-2" or "2,5" for single levels). Stricter than OpenLTH,
// which silently dedups and accepts reversed ranges as empty: those are almost always typos.
import { UserError } from '../errors.ts';

export class LevelsError extends UserError {
  override name = 'LevelsError';
}

/** A sanity bound: 0.8^100 ≈ 2e-10, far sparser than any network has weights. */
export const MAX_LEVEL = 100;

const INT = /^\d+$/;

export function parseLevels(s: string): number[] {
  const fail = (why: string): never => {
    throw new LevelsError(`--levels "${s}": ${why}; expected N (levels 0..N) or a list of levels and ranges like "0-5,8"`);
  };
  if (typeof s !== 'string' || s.trim() === '') fail('is empty');
  const level = (x: string): number => {
    if (!INT.test(x)) fail(`"${x}" is not a non-negative integer`);
    const n = Number(x);
    if (n > MAX_LEVEL) fail(`level ${n} is above the maximum ${MAX_LEVEL}`);
    return n;
  };
  const text = s.trim();
  if (INT.test(text)) return Array.from({ length: level(text) + 1 }, (_, i) => i);

  const seen = new Set<number>();
  const add = (n: number): void => {
    if (seen.has(n)) fail(`level ${n} appears twice`);
    seen.add(n);
  };
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (part === '') fail('has an empty entry (two commas in a row, or a leading/trailing comma)');
    const dash = part.indexOf('-');
    if (dash === -1) { add(level(part)); continue; }
    if (dash === 0) fail(`"${part}" is negative or has no range start`);
    const lo = level(part.slice(0, dash).trim()), hi = level(part.slice(dash + 1).trim());
    if (lo > hi) fail(`range "${part}" runs backwards (write "${hi}-${lo}")`);
    for (let n = lo; n <= hi; n++) add(n);
  }
  return [...seen].sort((a, b) => a - b);
}

/** Fraction of prunable weights left after L levels at pruning fraction f (up to the ceil rounding per level). */
export function levelDensity(level: number, fraction: number): number {
  if (!Number.isInteger(level) || level < 0) throw new LevelsError(`level ${level} is invalid; expected a non-negative integer`);
  if (!(fraction > 0 && fraction < 1)) throw new LevelsError(`pruning fraction ${fraction} is invalid; expected a number strictly between 0 and 1`);
  return (1 - fraction) ** level;
}
