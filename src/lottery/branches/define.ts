// defineBranch turns a branch's core — "rewrite the surviving weights of the prunable tensors" —
// into a full Branch: the wrapper checks the input, validates the options against the branch's
// schema (so a direct call with alpha = -1 fails just like a bad flag does), and hands the core a
// copy of the rewound weights. A core therefore cannot touch pruned or non-prunable positions
// unless it sets them on purpose, and never writes into the caller's arrays.
import { UserError } from '../../errors.ts';
import { checkValue, isRequired, noEffectDefault, parseText, type GroupSchema, type LooseSpec } from '../../train/hparams/schema.ts';
import { checkInput, rewound, type Slot } from './tensors.ts';
import type { Branch, BranchInput } from './types.ts';

export interface BranchCore<O extends object> {
  readonly name: string;
  readonly description: string;
  readonly options: GroupSchema<O>;
  /** Rewrites `out` (the rewound weights) in place; `options` are already checked. */
  perturb(out: Float32Array, input: BranchInput<O>, slots: readonly Slot[]): void;
}

export function defineBranch<O extends object>(core: BranchCore<O>): Branch<O> {
  return {
    name: core.name,
    description: core.description,
    options: core.options,
    apply(input: BranchInput<O>): Float32Array {
      const slots = checkInput(input);
      const options = resolveBranchOptions(core, input.options as Record<string, unknown>) as O;
      const out = rewound(input, slots);
      core.perturb(out, { ...input, options }, slots);
      return out;
    },
  };
}

function specsOf(branch: { options: object }): [string, LooseSpec][] {
  return Object.entries(branch.options as Record<string, LooseSpec>);
}

/**
 * Checks option values given in code or JSON and fills in defaults. Unknown names, missing
 * required options and bad values are UserErrors that name the option (as "<branch>.<option>").
 */
export function resolveBranchOptions(branch: { name: string; options: object }, values: Record<string, unknown>): Record<string, unknown> {
  const specs = specsOf(branch);
  const known = new Set(specs.map(([k]) => k));
  for (const k of Object.keys(values ?? {})) {
    if (!known.has(k)) {
      throw new UserError(`${branch.name}: unknown option ${JSON.stringify(k)}; expected ${known.size ? `one of ${[...known].join(', ')}` : 'no options'}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, spec] of specs) {
    const key = `${branch.name}.${k}`;
    const v = values?.[k];
    if (v === undefined) {
      if (isRequired(spec)) throw new UserError(`${key}: missing; this option is required (${spec.help})`);
      const d = noEffectDefault(spec);
      if (d !== undefined) out[k] = d;
      continue;
    }
    out[k] = checkValue(spec, v, key);
  }
  return out;
}

/** Like resolveBranchOptions, from command-line text (e.g. {alpha: "0.5"}). */
export function parseBranchOptions(branch: { name: string; options: object }, texts: Record<string, string>): Record<string, unknown> {
  const specs = new Map(specsOf(branch));
  const values: Record<string, unknown> = {};
  for (const [k, text] of Object.entries(texts)) {
    const spec = specs.get(k);
    values[k] = spec ? parseText(spec, text, `${branch.name}.${k}`) : text; // unknown names: reported by resolve
  }
  return resolveBranchOptions(branch, values);
}
