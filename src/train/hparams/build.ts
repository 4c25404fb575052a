// Turning loose values into a checked, canonical Hparams object: per-field checks from the
// schema, defaults for fields nobody set, and the rules that tie fields together. Every entry
// point (CLI, JSON, presets, code) ends here, so a run never starts on hyperparameters that
// only one of them would have rejected.
import { HparamsError } from '../../errors.ts';

import { fieldsOf, checkValue, isRequired, noEffectDefault } from './schema.ts';
import { GROUPS, GROUP_NAMES, type GroupName, type Hparams } from './groups.ts';

/** Where each field lives; OpenLTH's flags are one flat namespace, so field names are unique across groups. */
export const FIELD_GROUP: ReadonlyMap<string, GroupName> = (() => {
  const m = new Map<string, GroupName>();
  for (const g of GROUP_NAMES) {
    for (const [key] of fieldsOf(GROUPS[g])) {
      if (m.has(key)) throw new HparamsError(`hparams schema: field ${key} is in both ${m.get(key)} and ${g}`);
      m.set(key, g);
    }
  }
  return m;
})();

/**
 * Builds one group from loose values: each given value is checked, unset fields get their
 * no-effect default, and missing required fields are collected (not thrown) so the caller can
 * report all of them at once. `where` prefixes error messages (a file name or "flags").
 */
export function buildGroup(g: GroupName, values: Readonly<Record<string, unknown>>, where: string,
  missing: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const specs = new Map(fieldsOf(GROUPS[g]));
  for (const key of Object.keys(values)) {
    if (!specs.has(key)) {
      throw new HparamsError(`${where}: unknown key "${g}.${key}"; known keys in ${g}: ${[...specs.keys()].join(', ')}`);
    }
  }
  for (const [key, spec] of specs) {
    const v = values[key];
    if (v !== undefined) out[key] = checkValue(spec, v, `${where}: ${g}.${key}`);
    else if (isRequired(spec)) missing.push(`${g}.${key}`);
    else if (noEffectDefault(spec) !== undefined) out[key] = noEffectDefault(spec);
  }
  return out;
}

/** Re-checks a whole Hparams object (e.g. built in code or by a preset) and returns a canonical copy. */
export function validateHparams(h: Hparams, where = 'hparams'): Hparams {
  const missing: string[] = [];
  const out: Record<string, unknown> = {};
  for (const g of GROUP_NAMES) {
    const group: unknown = h[g];
    if (typeof group !== 'object' || group === null) throw new HparamsError(`${where}: group "${g}" is missing`);
    out[g] = buildGroup(g, group as Record<string, unknown>, where, missing);
  }
  if (missing.length) throw new HparamsError(`${where}: missing required ${missing.join(', ')}`);
  checkCrossField(out as unknown as Hparams, where);
  return out as unknown as Hparams;
}

/**
 * Rules between fields (OpenLTH enforces the first two when training starts; we do it up front).
 * From the command line (where = 'flags') fields are named by the flags the user typed; from a
 * file or code by their group.field path.
 */
function checkCrossField(h: Hparams, where: string): void {
  const name = (g: GroupName, key: string) => (where === 'flags' ? `--${key.replaceAll('_', '-')}` : `${g}.${key}`);
  const prefix = where === 'flags' ? '' : `${where}: `;
  const t = h.training;
  if ((t.milestone_steps === undefined) !== (t.gamma === undefined)) {
    throw new HparamsError(`${prefix}${name('training', 'milestone_steps')} and ${name('training', 'gamma')} must be set together ` +
      `(got milestone_steps=${t.milestone_steps ?? 'unset'}, gamma=${t.gamma ?? 'unset'})`);
  }
  if (t.momentum > 0 && t.nesterov_momentum > 0) {
    throw new HparamsError(`${prefix}${name('training', 'momentum')} (${t.momentum}) and ${name('training', 'nesterov_momentum')} ` +
      `(${t.nesterov_momentum}) are exclusive; set one of them to 0`);
  }
  if (t.optimizer_name === 'adam' && (t.momentum > 0 || t.nesterov_momentum > 0)) {
    throw new HparamsError(`${prefix}${name('training', 'momentum')} / ${name('training', 'nesterov_momentum')} apply to sgd only, ` +
      `but ${name('training', 'optimizer_name')} is adam; set them to 0`);
  }
  const m = h.model;
  if (m.others_frozen_exceptions !== undefined && !m.others_frozen) {
    throw new HparamsError(`${prefix}${name('model', 'others_frozen_exceptions')} only has an effect with ${name('model', 'others_frozen')}; set both or neither`);
  }
}
