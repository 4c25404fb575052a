// Which pruning levels a command runs. OpenLTH has two spellings: the lottery runner's
// `--levels N` (an integer: run levels 0..N) and the branch runner's `--levels 1,2-4,9` (a list of
// levels and inclusive ranges, where a lone 2 is level 2 only). We accept the list form everywhere;
// a lone integer N means 0..N for the commands that train levels (lottery, instability, the demo's
// IMP levels: "run IMP for N levels") and level N only for the ones that branch from finished
// levels (branch, the demo's --reinit-levels, a sweep's branches), as OpenLTH's lottery_branch.
// Stricter than OpenLTH, which silently dedups and accepts reversed ranges as empty: those are
// almost always typos.
import { UserError } from '../errors.ts';

export class LevelsError extends UserError {
  override name = 'LevelsError';
}

/** A sanity bound: 0.8^100 ≈ 2e-10, far sparser than any network has weights. */
export const MAX_LEVEL = 100;

const INT = /^\d+$/;

/** What a lone integer N means: levels 0..N (training commands) or level N only (branches). */
export type LoneLevel = 'through' | 'only';

export function parseLevels(s: string, lone: LoneLevel = 'through', flag = '--levels'): number[] {
  const fail = (why: string): never => {
    throw new LevelsError(`${flag} "${s}": ${why}; expected ${lone === 'through' ? 'N (levels 0..N)' : 'N (level N only)'} or a list of levels and ranges like "0-5,8"`);
  };
  if (typeof s !== 'string' || s.trim() === '') fail('is empty');
  const level = (x: string): number => {
    if (!INT.test(x)) fail(`"${x}" is not a non-negative integer`);
    const n = Number(x);
    if (n > MAX_LEVEL) fail(`level ${n} is above the maximum ${MAX_LEVEL}`);
    return n;
  };
  const text = s.trim();
  if (INT.test(text)) return lone === 'only' ? [level(text)] : Array.from({ length: level(text) + 1 }, (_, i) => i);

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

/** Levels as list-form text ("0-3,5", "2-2"): parses back to the same levels with either meaning of a lone integer. */
export function formatLevels(levels: readonly number[]): string {
  const sorted = [...new Set(levels)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  // A bare integer inside a list is that one level; alone it would be ambiguous, so "N-N".
  return parts.length === 1 && /^\d+$/.test(parts[0]!) ? `${parts[0]}-${parts[0]}` : parts.join(',');
}

/** Fraction of prunable weights left after L levels at pruning fraction f (up to the ceil rounding per level). */
export function levelDensity(level: number, fraction: number): number {
  if (!Number.isInteger(level) || level < 0) throw new LevelsError(`level ${level} is invalid; expected a non-negative integer`);
  if (!(fraction > 0 && fraction < 1)) throw new LevelsError(`pruning fraction ${fraction} is invalid; expected a number strictly between 0 and 1`);
  return (1 - fraction) ** level;
}
