// Help text from the schema: the CLI's --help (with a preset's values as the defaults shown)
// and docs/hyperparameters.md. Both read the same specs that validate, so they cannot drift apart.

import { fieldsOf, expectedText, isRequired, noEffectDefault, formatValue } from './schema.ts';
import { GROUPS, GROUP_NAMES, type GroupName } from './groups.ts';
import { flagOf, describeType } from './cli.ts';
import { presetHparams, presetList } from '../presets.ts';

export interface HparamDoc {
  readonly group: GroupName;
  readonly key: string;
  /** Kebab-case flag; `alias` is OpenLTH's underscore spelling. */
  readonly flag: string;
  readonly alias: string;
  readonly type: string;
  readonly expected: string;
  readonly required: boolean;
  /** The value used when the flag is absent (the preset's, if one is given), as typed on a command line. */
  readonly default: string | undefined;
  readonly help: string;
}

/** Every hyperparameter with its help; defaults come from `preset` when given, else the schema. */
export function describeHparams(preset?: string): HparamDoc[] {
  const values = preset === undefined ? undefined
    : presetHparams(preset) as unknown as Record<GroupName, Record<string, unknown>>;
  return GROUP_NAMES.flatMap(g => fieldsOf(GROUPS[g]).map(([key, spec]): HparamDoc => {
    const value = values ? values[g][key] : noEffectDefault(spec);
    return {
      group: g, key, flag: flagOf(key), alias: `--${key}`, type: describeType(spec), expected: expectedText(spec),
      required: isRequired(spec), default: value === undefined ? undefined : formatValue(value), help: spec.help,
    };
  }));
}

/** Plain-text help, grouped as in OpenLTH. */
export function formatHparamsHelp(preset?: string): string {
  const docs = describeHparams(preset);
  const lines: string[] = [
    '--default-hparams NAME  load the defaults for a model, then override them with the flags below.',
    ...presetList().map(l => `    ${l}`),
    'Flags also accept OpenLTH spellings (--batch_size). An empty value (--gamma=) unsets an optional one.',
  ];
  for (const g of GROUP_NAMES) {
    lines.push('', `${GROUPS[g].title}: ${GROUPS[g].description}`);
    for (const d of docs.filter(d => d.group === g)) {
      const value = d.type === 'boolean' ? '' : ` <${d.type}>`;
      const status = d.default !== undefined ? `default: ${d.default}`
        : d.required && preset === undefined ? 'required' : 'unset';
      const expected = d.type === 'boolean' ? '' : ` Expected: ${d.expected}.`;
      lines.push(`  ${d.flag}${value}  (${status})`, `      ${d.help}${expected}`);
    }
  }
  return lines.join('\n');
}

/** A Markdown table per group for docs/hyperparameters.md (schema defaults, not a preset's). */
export function hparamsMarkdown(): string {
  const out: string[] = [];
  for (const g of GROUP_NAMES) {
    out.push(`### ${GROUPS[g].title}`, '', GROUPS[g].description, '', '| flag | accepts | default | description |', '|---|---|---|---|');
    for (const d of describeHparams().filter(d => d.group === g)) {
      const def = d.default !== undefined ? `\`${d.default}\`` : d.required ? 'required' : 'unset';
      out.push(`| \`${d.flag}\` | ${d.expected.replaceAll('|', '\\|')} | ${def} | ${d.help.replaceAll('|', '\\|')} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
