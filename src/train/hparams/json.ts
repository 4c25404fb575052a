// The hparams file saved in each run folder. Every field is written out (defaults too) so the
// file reads on its own; loading checks it as strictly as flags are checked, with errors naming
// the file and the key. Fields missing from an older file take their no-effect defaults, so
// files written before a knob existed still load — to the same hash. Version 1 files were
// written under earlyphase 0.1's semantics (a padded last batch, an exact pruning count), which
// version 2 made options: they load with those options set, so they name what they ran.
import { HparamsError } from '../../errors.ts';

import { GROUPS, GROUP_NAMES, type GroupName, type Hparams } from './groups.ts';
import { buildGroup, validateHparams } from './build.ts';
import { fieldsOf } from './schema.ts';

export const HPARAMS_FORMAT = 'earlyphase.hparams';
export const HPARAMS_VERSION = 2;
/** The options that keep a version-1 file's semantics (its runs padded the last batch and pruned exact counts). */
const VERSION_1_SEMANTICS = { dataset: { pad_last_batch: true }, pruning: { pruning_exact_count: true } } as const;

export type HparamsJSON = { format: string; version: number } & { [G in GroupName]: Record<string, unknown> };

export function hparamsToJSON(h: Hparams): HparamsJSON {
  const checked = validateHparams(h) as unknown as Record<GroupName, Record<string, unknown>>;
  const out = { format: HPARAMS_FORMAT, version: HPARAMS_VERSION } as HparamsJSON;
  for (const g of GROUP_NAMES) {
    // Schema order, not insertion order, so files diff cleanly.
    const group: Record<string, unknown> = {};
    for (const [key] of fieldsOf(GROUPS[g])) if (checked[g][key] !== undefined) group[key] = checked[g][key];
    out[g] = group;
  }
  return out;
}

/** Parses (if given text) and checks an hparams file; `file` names it in every error. */
export function hparamsFromJSON(json: unknown, file = 'hparams.json'): Hparams {
  let data = json;
  if (typeof json === 'string') {
    try { data = JSON.parse(json); } catch (e) { throw new HparamsError(`${file}: not valid JSON (${(e as Error).message})`); }
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new HparamsError(`${file}: expected a JSON object with groups ${GROUP_NAMES.join(', ')}`);
  }
  const obj = data as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== 'format' && key !== 'version' && !(GROUP_NAMES as string[]).includes(key)) {
      throw new HparamsError(`${file}: unknown key "${key}"; expected format, version, ${GROUP_NAMES.join(', ')}`);
    }
  }
  if (obj.format !== undefined && obj.format !== HPARAMS_FORMAT) {
    throw new HparamsError(`${file}: key "format" is ${JSON.stringify(obj.format)}; expected "${HPARAMS_FORMAT}"`);
  }
  if (obj.version !== undefined && obj.version !== 1 && obj.version !== HPARAMS_VERSION) {
    throw new HparamsError(`${file}: key "version" is ${JSON.stringify(obj.version)}; this build reads versions 1 and ${HPARAMS_VERSION}`);
  }
  const legacy: Partial<Record<GroupName, Record<string, unknown>>> = obj.version === 1 ? VERSION_1_SEMANTICS : {};
  const missing: string[] = [];
  const h: Record<string, unknown> = {};
  for (const g of GROUP_NAMES) {
    const group = obj[g];
    if (typeof group !== 'object' || group === null || Array.isArray(group)) {
      throw new HparamsError(`${file}: key "${g}" must be an object of ${g} hyperparameters`);
    }
    // JSON null means unset (what Python's None becomes), the same as leaving the key out.
    const values = { ...legacy[g], ...Object.fromEntries(Object.entries(group).filter(([, v]) => v !== null)) };
    h[g] = buildGroup(g, values, file, missing);
  }
  if (missing.length) throw new HparamsError(`${file}: missing required ${missing.join(', ')}`);
  return validateHparams(h as unknown as Hparams, file);
}
