// Lottery options beyond the four hyperparameter groups: the rewind point and pre-training
// (OpenLTH's --rewinding_steps and --pretrain --pretrain_*). Pre-training hyperparameters are the
// main ones with every `--pretrain-<hparam>` flag applied on top, e.g. `--pretrain-unsupervised-labels
// rotation --pretrain-training-steps 40ep`. They enter the run hash only when set, so a plain
// lottery keeps the same folder name whatever options are added later.
import { HparamsError } from '../errors.ts';
import { hparamsHashInput, hparamsToJSON, parseHparamArgv, parseHparams, type Hparams } from '../train/hparams.ts';
import { canonicalJSON, sha256Hex } from '../io/digest.ts';
import { canonicalStep } from '../train/steps.ts';

export interface PretrainOptions {
  hparams: Hparams;
  /** OpenLTH: yes — the main run then trains from step P (the pre-training length) to T. */
  countsAgainstBudget: boolean;
}

export interface LotteryOptions {
  /** k: the step every level rewinds to ("0it" = the original lottery ticket procedure). */
  rewindingSteps: string;
  pretrain: PretrainOptions | null;
}

const PRETRAIN_FLAG = /^--pretrain[-_](?!counts[-_]against[-_]budget)(.+)$/;

/**
 * `h` with some fields replaced, validated as a whole (pre-training and retrain branches):
 * overrides are flag/value pairs like `[['lr', '0.05']]`.
 */
export function hparamsWithOverrides(h: Hparams, overrides: readonly (readonly [string, string])[]): Hparams {
  const pairs = asPairs(h);
  for (const [k, v] of overrides) pairs[k.replace(/^--/, '').replace(/-/g, '_')] = v;
  return parseHparams(pairs);
}

/** Hparams as flag pairs (unset optionals and false booleans omitted), to re-parse with overrides. */
function asPairs(h: Hparams): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  const j = hparamsToJSON(h) as unknown as Record<string, Record<string, unknown>>;
  for (const g of ['dataset', 'model', 'training', 'pruning']) {
    for (const [k, v] of Object.entries(j[g] ?? {})) {
      if (v === undefined || v === null || v === false) continue;
      out[k] = v === true ? true : Array.isArray(v) ? v.join(',') : String(v);
    }
  }
  return out;
}

/**
 * Splits `argv` into the main hyperparameters, the lottery options and the remaining tokens.
 * `--rewinding-steps`, `--pretrain`, `--pretrain-counts-against-budget[=false]` and the
 * `--pretrain-*` overrides are consumed here.
 */
export function parseLotteryArgv(argv: readonly string[]): { hparams: Hparams; lottery: LotteryOptions; rest: string[] } {
  const main: string[] = [];
  const pre: string[] = [];
  let rewinding = '0it';
  let pretrain = false, counts = true;
  for (let i = 0; i < argv.length; i++) {
    const t = argv[i]!;
    const [flag, inline] = t.includes('=') ? [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)] : [t, undefined];
    const value = () => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined) throw new HparamsError(`${flag} needs a value`);
      return v;
    };
    if (flag === '--rewinding-steps' || flag === '--rewinding_steps') rewinding = canonicalStep(value(), '--rewinding-steps');
    else if (flag === '--pretrain') pretrain = inline === undefined ? true : inline !== 'false';
    else if (/^--pretrain[-_]counts[-_]against[-_]budget$/.test(flag)) counts = inline === undefined ? true : inline !== 'false';
    else if (PRETRAIN_FLAG.test(flag)) pre.push(`--${PRETRAIN_FLAG.exec(flag)![1]}`, value());
    else main.push(t);
  }
  const { hparams, rest } = parseHparamArgv(main);
  if (pre.length && !pretrain) throw new HparamsError(`${pre.filter((_, i) => i % 2 === 0).map((f) => `--pretrain-${f.slice(2)}`).join(', ')} given without --pretrain`);
  let pretrainOpts: PretrainOptions | null = null;
  if (pretrain) {
    const overrides = pre.flatMap((f, i) => (i % 2 === 0 ? [[f, pre[i + 1]!] as const] : []));
    pretrainOpts = { hparams: hparamsWithOverrides(hparams, overrides), countsAgainstBudget: counts };
  }
  return { hparams, lottery: { rewindingSteps: rewinding, pretrain: pretrainOpts }, rest };
}

/** Folder hash of a lottery: the hparams hash input plus the non-default lottery options. */
export function lotteryHash(h: Hparams, o: LotteryOptions): string {
  const extra: Record<string, unknown> = {};
  if (o.rewindingSteps !== '0it') extra.rewinding_steps = o.rewindingSteps;
  if (o.pretrain) extra.pretrain = { hparams: hparamsHashInput(o.pretrain.hparams), counts_against_budget: o.pretrain.countsAgainstBudget };
  const input = Object.keys(extra).length ? canonicalJSON({ hparams: hparamsHashInput(h), lottery: extra }) : hparamsHashInput(h);
  return sha256Hex(input).slice(0, 10);
}
