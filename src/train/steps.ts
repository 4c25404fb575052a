// Training steps written with units, as in OpenLTH: "160ep", "500it", "1ep109it".
// Hyperparameters keep steps as strings because the number of iterations an epoch stands for
// depends on the dataset and batch size; a string becomes an iteration count only once that is
// known (Step.fromString). Strings are canonicalised ("1ep0it" → "1ep", "0ep" → "0it") so two
// spellings of the same step hash to the same run folder.
import { HparamsError } from '../errors.ts';

const DIGITS = '(0|[1-9][0-9]*)'; // no leading zeros: one spelling per number, as OpenLTH insists
const STEP_RE = new RegExp(`^(?:${DIGITS}ep)?(?:${DIGITS}it)?$`);
const EXPECTED = 'expected <N>ep, <N>it or <N>ep<M>it with non-negative integers, e.g. "160ep", "500it", "1ep109it"';

/** A step as written: whole epochs plus extra iterations (not yet tied to an epoch length). */
export interface StepParts { readonly ep: number; readonly it: number }

/** Parse a step string; `what` names the thing being parsed (e.g. a flag) in the error. */
export function parseStepParts(s: string, what = 'step'): StepParts {
  const m = typeof s === 'string' ? STEP_RE.exec(s) : null;
  // The regex also matches "" (both parts optional); a step needs at least one unit.
  if (!m || (m[1] === undefined && m[2] === undefined)) {
    throw new HparamsError(`${what}: malformed step ${JSON.stringify(s)}; ${EXPECTED}`);
  }
  const ep = m[1] === undefined ? 0 : Number(m[1]);
  const it = m[2] === undefined ? 0 : Number(m[2]);
  if (!Number.isSafeInteger(ep) || !Number.isSafeInteger(it)) {
    throw new HparamsError(`${what}: step ${JSON.stringify(s)} is too large; ${EXPECTED}`);
  }
  return { ep, it };
}

export function isStepString(s: string): boolean {
  try { parseStepParts(s); return true; } catch { return false; }
}

/** The one spelling of a step: "Xep" when it is whole epochs, "Yit" when it has no epochs, else "XepYit". */
export function formatStepParts({ ep, it }: StepParts): string {
  if (ep === 0) return `${it}it`;
  return it === 0 ? `${ep}ep` : `${ep}ep${it}it`;
}

export function canonicalStep(s: string, what = 'step'): string {
  return formatStepParts(parseStepParts(s, what));
}

/** Comma-separated steps ("80ep,120ep") → canonical strings. Empty items are errors, not skipped. */
export function parseStepList(s: string, what = 'steps'): string[] {
  return s.split(',').map((item, i) => canonicalStep(item.trim(), `${what}[${i}]`));
}

/** OpenLTH's epoch length: ceil(examples × subsample fraction / batch). 50,000 at 128 → 391; 60,000 → 469. */
export function iterationsPerEpoch(trainExamples: number, batchSize: number, subsampleFraction?: number): number {
  if (!Number.isSafeInteger(trainExamples) || trainExamples <= 0) {
    throw new HparamsError(`iterationsPerEpoch: trainExamples must be a positive integer, got ${trainExamples}`);
  }
  if (!Number.isSafeInteger(batchSize) || batchSize <= 0) {
    throw new HparamsError(`iterationsPerEpoch: batchSize must be a positive integer, got ${batchSize}`);
  }
  const examples = subsampleFraction === undefined ? trainExamples : trainExamples * subsampleFraction;
  return Math.ceil(examples / batchSize);
}

/** A step tied to an epoch length: converts between "XepYit" and absolute iterations and compares. */
export class Step {
  private constructor(readonly iteration: number, readonly iterationsPerEpoch: number) {}

  static fromIteration(iteration: number, iterationsPerEpoch: number): Step {
    if (!Number.isSafeInteger(iterationsPerEpoch) || iterationsPerEpoch <= 0) {
      throw new HparamsError(`Step: iterationsPerEpoch must be a positive integer, got ${iterationsPerEpoch}`);
    }
    if (!Number.isSafeInteger(iteration) || iteration < 0) {
      throw new HparamsError(`Step: iteration must be a non-negative integer, got ${iteration}`);
    }
    return new Step(iteration, iterationsPerEpoch);
  }

  static fromEpoch(ep: number, it: number, iterationsPerEpoch: number): Step {
    return Step.fromIteration(ep * iterationsPerEpoch + it, iterationsPerEpoch);
  }

  static fromString(s: string, iterationsPerEpoch: number, what = 'step'): Step {
    const { ep, it } = parseStepParts(s, what);
    // Each part fits, but epochs × epoch length may not: say so naming the flag, not "Step:".
    if (!Number.isSafeInteger(ep * iterationsPerEpoch + it)) {
      throw new HparamsError(`${what}: step ${JSON.stringify(s)} is ${ep} epochs of ${iterationsPerEpoch} iterations, ` +
        `more iterations than can be counted exactly (2^53); ${EXPECTED}`);
    }
    return Step.fromEpoch(ep, it, iterationsPerEpoch);
  }

  static zero(iterationsPerEpoch: number): Step { return Step.fromIteration(0, iterationsPerEpoch); }

  /** Completed epochs. */
  get ep(): number { return Math.floor(this.iteration / this.iterationsPerEpoch); }
  /** Iterations into the current epoch. */
  get it(): number { return this.iteration % this.iterationsPerEpoch; }

  /** Canonical string in epochs + iterations, e.g. 500 at 391/epoch → "1ep109it". */
  toString(): string { return formatStepParts({ ep: this.ep, it: this.it }); }

  /** Negative, zero or positive like a sort comparator. Steps with different epoch lengths don't compare. */
  compare(other: Step): number {
    if (other.iterationsPerEpoch !== this.iterationsPerEpoch) {
      throw new HparamsError(`Step: cannot compare ${this} (${this.iterationsPerEpoch} it/epoch) with ${other} ` +
        `(${other.iterationsPerEpoch} it/epoch); convert both with the same dataset's epoch length`);
    }
    return this.iteration - other.iteration;
  }
  equals(other: Step): boolean { return this.compare(other) === 0; }
  lessThan(other: Step): boolean { return this.compare(other) < 0; }
}

/** Shorthand: a step string's absolute iteration count. */
export function stepToIterations(s: string, iterationsPerEpoch: number, what = 'step'): number {
  return Step.fromString(s, iterationsPerEpoch, what).iteration;
}
