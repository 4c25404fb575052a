// Run-folder names: a stable hash of the hyperparameters that are not at their no-effect default.
//
// Scheme (version 2), following OpenLTH's Desc.hashname in spirit:
//   1. validate (canonical step spellings, defaults filled in);
//   2. per group keep the fields whose value differs from the schema's no-effect default —
//      fields without a default (dataset_name, lr, ...) are therefore always kept;
//   3. drop groups left empty; sort group and field names; serialise as JSON with no spaces
//      (numbers in ECMAScript's shortest round-trip form: 0.1, 0.0001, 1e-7);
//   4. SHA-256 of "earlyphase.hparams.v2\n" + that JSON (UTF-8); the first 10 hex digits.
//
// Why relative to the schema's defaults and not the preset's: the hash then names the experiment
// itself, not the route taken to describe it. `--default-hparams cifar_resnet_20` and the same
// values spelled out as flags share a folder, and editing a preset can never make an old folder
// name a different experiment. A knob added later with a no-effect default is absent from every
// existing run's non-default set, so existing names stay valid. Changing a default, or this
// serialisation, would rename every run: bump the version string instead.
// Version 2 (2026-12): OpenLTH's short last batch and pruning count became the defaults, the
// old semantics the options pad_last_batch and pruning_exact_count. The bump renames every run,
// so no folder trained under version 1 is ever continued under the new semantics; version-1
// hparams.json files read back with both options set (src/train/hparams/json.ts).
// 10 hex digits = 40 bits: a collision needs ~10^6 distinct runs in one results root.

import { canonicalJSON, sha256Hex } from '../io/digest.ts';
import { GROUPS, GROUP_NAMES, type Hparams } from './hparams/groups.ts';
import { fieldsOf, noEffectDefault } from './hparams/schema.ts';
import { validateHparams } from './hparams/build.ts';

export const HASH_VERSION_TAG = 'earlyphase.hparams.v2';
export const HASH_HEX_DIGITS = 10;

/** The non-default fields per group (empty groups left out), e.g. for a run's one-line summary. */
export function nonDefaultHparams(h: Hparams): Record<string, Record<string, unknown>> {
  const checked = validateHparams(h) as unknown as Record<string, Record<string, unknown>>;
  const out: Record<string, Record<string, unknown>> = {};
  for (const g of GROUP_NAMES) {
    const kept: Record<string, unknown> = {};
    for (const [key, spec] of fieldsOf(GROUPS[g])) {
      const v = checked[g]![key];
      if (v !== undefined && !sameValue(v, noEffectDefault(spec))) kept[key] = v;
    }
    if (Object.keys(kept).length) out[g] = kept;
  }
  return out;
}

/** The exact text that is hashed; shown by debugging tools so a name can be explained. */
export function hparamsHashInput(h: Hparams): string {
  return `${HASH_VERSION_TAG}\n${canonicalJSON(nonDefaultHparams(h))}`;
}

/** The run hash: first HASH_HEX_DIGITS hex digits of SHA-256 of hparamsHashInput(h). */
export function hparamsHash(h: Hparams): string {
  return sha256Hex(hparamsHashInput(h)).slice(0, HASH_HEX_DIGITS);
}

function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJSON(a) === canonicalJSON(b);
}
