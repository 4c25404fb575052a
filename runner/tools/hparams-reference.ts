// docs/hyperparameters.md, generated from the hyperparameter schema (src/train/hparams/): the
// presets, each flag with what it accepts, its default and its help, and the presets' values.
// `npm run docs:hparams` rewrites the file; test/unit/docs.test.ts fails while it differs from
// what this prints today (a flag added to the schema means running that command).
import { realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeHparams, hparamsMarkdown } from '../../src/train/hparams.ts';
import { presetList } from '../../src/train/presets.ts';

export const HPARAMS_DOC = fileURLToPath(new URL('../../docs/hyperparameters.md', import.meta.url));
export const REGENERATE = 'npm run docs:hparams';

/** One preset per family: the values `--default-hparams NAME` loads. */
const PRESET_EXAMPLES = ['mnist_lenet_300_100', 'cifar_resnet_20', 'cifar_vgg_16', 'cifar_conv_2'];

function presetTable(): string[] {
  const docs = PRESET_EXAMPLES.map((p) => describeHparams(p));
  const rows = docs[0]!.map((d, i) => [d.flag, ...docs.map((ds) => ds[i]!.default)] as const)
    .filter(([, ...values]) => values.some((v) => v !== undefined));
  return [
    `| flag | ${PRESET_EXAMPLES.map((p) => `\`${p}\``).join(' | ')} |`,
    `|---|${PRESET_EXAMPLES.map(() => '---').join('|')}|`,
    ...rows.map(([flag, ...values]) => `| \`${flag}\` | ${values.map((v) => (v === undefined ? '' : `\`${v}\``)).join(' | ')} |`),
  ];
}

export function hparamsReference(): string {
  return [
    '# Hyperparameters',
    '',
    `<!-- Generated from the schema in src/train/hparams/ by \`${REGENERATE}\`; do not edit by hand. -->`,
    '',
    'Every flag below is taken by `train`, `lottery`, `batches`, `branch` and `instability` (see [usage](usage.md)),',
    'in kebab-case or OpenLTH\'s snake_case (`--batch_size`). `--default-hparams NAME` loads a preset first;',
    'flags given after it override its values. An empty value (`--gamma=`) unsets an optional one. The run',
    'folder\'s name is a hash of the values that differ from each knob\'s no-effect default (the `default`',
    'column), so adding a knob never renames old runs. `earlyphase train --hparams-help --default-hparams NAME`',
    'prints the same list with that preset\'s values.',
    '',
    '## Presets (`--default-hparams`)',
    '',
    ...presetList().map((l) => `- ${l}`),
    '',
    ...presetTable(),
    '',
    '## Flags',
    '',
    hparamsMarkdown().trimEnd(),
    '',
  ].join('\n');
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(HPARAMS_DOC, hparamsReference());
  console.log(`wrote ${HPARAMS_DOC}`);
}
