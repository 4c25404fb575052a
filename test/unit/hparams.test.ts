// Hyperparameters: presets carry OpenLTH's values, flags parse in both spellings and in any
// order, bad input is rejected with the key / value / expectation named, JSON files round-trip,
// and run hashes are pinned (a changed hash would orphan every existing run folder).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  parseHparams, parseHparamArgv, presetHparams, hparamsToJSON, hparamsFromJSON, hparamsHash, hparamsHashInput,
  nonDefaultHparams, describeHparams, formatHparamsHelp, hparamsMarkdown, validateHparams, GROUPS, GROUP_NAMES,
  MODEL_FAMILIES, type Hparams,
} from '../../src/train/hparams.ts';
import { sha256Hex } from '../../src/io/digest.ts';

/** Asserts that `fn` throws and that the message contains every fragment. */
function throwsWith(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: Error) => {
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test('presets carry OpenLTH default_hparams', () => {
  const r = presetHparams('cifar_resnet_20');
  assert.deepEqual(r.training, {
    optimizer_name: 'sgd', lr: 0.1, training_steps: '160ep', momentum: 0.9, nesterov_momentum: 0,
    milestone_steps: ['80ep', '120ep'], gamma: 0.1, weight_decay: 1e-4, apex_fp16: false,
  });
  assert.deepEqual(r.dataset, { dataset_name: 'cifar10', batch_size: 128, do_not_augment: false, pad_last_batch: false });
  assert.equal(r.pruning.pruning_exact_count, false, "OpenLTH's pruning count");
  assert.equal(r.model.batchnorm_init, 'uniform');
  assert.equal(r.pruning.pruning_layers_to_ignore, undefined, 'ResNets prune the output layer');

  const l = presetHparams('mnist_lenet_300_100');
  assert.equal(l.dataset.dataset_name, 'mnist');
  assert.deepEqual([l.training.optimizer_name, l.training.lr, l.training.momentum, l.dataset.batch_size, l.training.training_steps],
    ['sgd', 0.1, 0, 128, '40ep']);
  assert.equal(l.training.milestone_steps, undefined);
  assert.deepEqual(l.pruning.pruning_layers_to_ignore, ['fc.weight']);

  const v = presetHparams('cifar_vgg_19');
  assert.equal(v.model.model_name, 'cifar_vgg_19');
  assert.deepEqual(v.pruning.pruning_layers_to_ignore, ['fc.weight']);
  assert.deepEqual(v.training, r.training);

  // Any name of a family gets the family's recipe under its own name (OpenLTH get_default_hparams).
  const r56 = presetHparams('cifar_resnet_56_32');
  assert.equal(r56.model.model_name, 'cifar_resnet_56_32');
  assert.deepEqual(r56.training, r.training);

  const c = presetHparams('cifar_conv_4');
  assert.deepEqual([c.training.optimizer_name, c.training.lr, c.training.training_steps, c.dataset.batch_size],
    ['adam', 3e-4, '25000it', 60]);
  for (const f of MODEL_FAMILIES) for (const name of f.examples) presetHparams(name); // every example validates
});

test('an unknown preset lists the known ones', () => {
  for (const bad of ['resnet20', 'cifar_resnet_21', 'cifar_vgg_12', 'mnist_lenet', 'cifar_conv_3']) {
    throwsWith(() => presetHparams(bad), `unknown preset "${bad}"`, 'cifar_resnet_D[_W]', 'mnist_lenet_300_100', 'cifar_vgg_{11,13,16,19}', 'cifar_conv_{2,4,6}');
  }
  throwsWith(() => parseHparams({ 'default-hparams': 'vgg16' }), 'unknown preset "vgg16"');
  throwsWith(() => presetHparams('x'), 'cifar_conv_6 [approximate: Frankle & Carbin 2019'); // stand-in values are marked approximate
});

test('flags: kebab-case and OpenLTH underscores, in any order, override the preset', () => {
  const a = parseHparams([['--default-hparams', 'cifar_resnet_20'], ['--lr', '0.05'], ['--milestone-steps', '40ep,60ep'],
    ['--batch-size', '64'], ['--do-not-augment', true]]);
  const b = parseHparams([['batch_size', '64'], ['--do_not_augment', 'true'], ['milestone_steps', '40ep,60ep'],
    ['lr', '0.05'], ['--default_hparams', 'cifar_resnet_20']]);
  assert.deepEqual(a, b);
  assert.equal(a.training.lr, 0.05);
  assert.equal(a.dataset.batch_size, 64);
  assert.equal(a.dataset.do_not_augment, true);
  assert.deepEqual(a.training.milestone_steps, ['40ep', '60ep']);
  assert.equal(a.training.momentum, 0.9, 'untouched preset values stay');

  // An empty value unsets an optional field: prune LeNet's output layer too.
  const l = parseHparams({ default_hparams: 'mnist_lenet_300_100', pruning_layers_to_ignore: '' });
  assert.equal(l.pruning.pruning_layers_to_ignore, undefined);
  // Without a preset every required field must be given; then schema defaults fill the rest.
  const full = parseHparams({
    dataset_name: 'cifar10', batch_size: '128', model_name: 'cifar_resnet_20', model_init: 'kaiming_normal',
    batchnorm_init: 'fixed', optimizer_name: 'sgd', lr: '0.1', training_steps: '1ep0it', pruning_strategy: 'sparse_layerwise',
  });
  assert.equal(full.training.momentum, 0);
  assert.equal(full.pruning.pruning_fraction, 0.2);
  assert.equal(full.training.training_steps, '1ep', 'steps are stored canonically');
});

test('flags: bad input names the key, the value and what is expected', () => {
  const p = (pairs: [string, string | boolean][]) => () => parseHparams([['default_hparams', 'cifar_resnet_20'], ...pairs]);
  throwsWith(p([['--lrr', '0.1']]), 'unknown hyperparameter "--lrr"', 'did you mean --lr?');
  throwsWith(p([['--lr', 'fast']]), '--lr: invalid value "fast"', 'expected a number > 0');
  throwsWith(p([['--lr', '0']]), '--lr: invalid value 0', 'out of range', '> 0');
  throwsWith(p([['--lr', '0x10']]), '--lr: invalid value "0x10"');
  throwsWith(p([['--momentum', '1']]), '--momentum: invalid value 1', 'in [0, 1)');
  throwsWith(p([['--batch-size', '12.5']]), '--batch-size: invalid value "12.5"', 'expected an integer >= 1');
  throwsWith(p([['--optimizer-name', 'rmsprop']]), '--optimizer-name: invalid value "rmsprop"', 'one of sgd, adam');
  throwsWith(p([['--training-steps', '160']]), '--training-steps: malformed step "160"', '<N>ep');
  throwsWith(p([['--milestone-steps', '80ep,1.5ep']]), '--milestone-steps[1]: malformed step "1.5ep"');
  throwsWith(p([['--model-name', 'resnet20']]), '--model-name: invalid value "resnet20"', 'cifar_resnet_D[_W]');
  throwsWith(p([['--do-not-augment', 'yes']]), '--do-not-augment: invalid value "yes"', 'true or false');
  throwsWith(p([['--lr', true]]), '--lr needs a value');
  throwsWith(p([['--lr', '0.1'], ['--lr', '0.2']]), '--lr is given twice');
  throwsWith(p([['--batch_size', '64'], ['--batch-size', '64']]), '--batch-size is given twice');
  throwsWith(p([['--pruning-layers-to-ignore', 'fc weight']]), 'pruning-layers-to-ignore[0]: invalid value "fc weight"');
  throwsWith(() => parseHparams({ lr: '0.1' }), 'missing required hyperparameters', '--dataset-name', '--model-name', '--default-hparams');
  // Cross-field rules.
  throwsWith(p([['--gamma', '']]), '--milestone-steps and --gamma must be set together');
  // Named by the flags the user typed, not the internal group.field path (issue 14 item 8).
  throwsWith(p([['--nesterov-momentum', '0.9']]), '--momentum (0.9) and --nesterov-momentum (0.9) are exclusive');
  throwsWith(p([['--optimizer-name', 'adam']]), '--momentum / --nesterov-momentum apply to sgd only', '--optimizer-name is adam');
  // A number too large for a float is named as written, not as "null" (issue 14 item 8).
  throwsWith(p([['--lr', '1e400']]), '--lr: invalid value "1e400" (too large for a 64-bit float)', 'expected a number > 0');
  throwsWith(p([['--batch-size', '99999999999999999999']]), '--batch-size: invalid value "99999999999999999999" (too large to count exactly)');
});

test('argv: hyperparameter flags are taken out, the rest is left in order', () => {
  const { hparams, rest } = parseHparamArgv(['lottery', '--default-hparams', 'cifar_resnet_20', '--levels', '3',
    '--do-not-augment', '--lr=0.05', '--rewinding_steps', '500it', '--warmup_steps', '1ep', '--', '--lr']);
  assert.deepEqual(rest, ['lottery', '--levels', '3', '--rewinding_steps', '500it', '--', '--lr']);
  assert.equal(hparams.training.lr, 0.05);
  assert.equal(hparams.training.warmup_steps, '1ep');
  assert.equal(hparams.dataset.do_not_augment, true);
  throwsWith(() => parseHparamArgv(['--default-hparams', 'cifar_resnet_20', '--lr']), '--lr needs a value');
});

test('JSON round-trips and is checked on load, naming the file and the key', () => {
  for (const name of ['cifar_resnet_20', 'mnist_lenet_300_100', 'cifar_conv_6']) {
    const h = parseHparams({ default_hparams: name, warmup_steps: '2ep', data_order_seed: '7' });
    const text = JSON.stringify(hparamsToJSON(h));
    assert.deepEqual(hparamsFromJSON(text, 'run/hparams.json'), h);
  }
  const good = hparamsToJSON(presetHparams('cifar_resnet_20'));
  const edit = (f: (j: any) => void) => { const j = structuredClone(good) as any; f(j); return j; };
  const F = 'lottery_x/hparams.json';
  throwsWith(() => hparamsFromJSON(edit(j => { j.training.lr = '0.1'; }), F), F, 'training.lr', 'invalid value "0.1"', 'expected a number');
  throwsWith(() => hparamsFromJSON(edit(j => { j.training.learning_rate = 0.1; }), F), F, 'unknown key "training.learning_rate"', 'known keys in training');
  throwsWith(() => hparamsFromJSON(edit(j => { j.optimizer = {}; }), F), F, 'unknown key "optimizer"');
  throwsWith(() => hparamsFromJSON(edit(j => { delete j.model.model_name; }), F), F, 'missing required model.model_name');
  throwsWith(() => hparamsFromJSON(edit(j => { j.dataset.batch_size = 0; }), F), F, 'dataset.batch_size', 'out of range');
  throwsWith(() => hparamsFromJSON(edit(j => { j.training.milestone_steps = '80ep,120ep'; }), F), F, 'training.milestone_steps', 'non-empty list');
  throwsWith(() => hparamsFromJSON(edit(j => { j.version = 3; }), F), F, '"version" is 3', 'versions 1 and 2');
  // A version-1 file ran under earlyphase 0.1's semantics: it loads with the options that keep them.
  const v1 = hparamsFromJSON(edit(j => { j.version = 1; delete j.dataset.pad_last_batch; delete j.pruning.pruning_exact_count; }), F);
  assert.deepEqual([v1.dataset.pad_last_batch, v1.pruning.pruning_exact_count], [true, true]);
  assert.notEqual(hparamsHash(v1), hparamsHash(presetHparams('cifar_resnet_20')), 'so it never names a folder of the new semantics');
  const v2 = hparamsFromJSON(edit(j => { delete j.dataset.pad_last_batch; delete j.pruning.pruning_exact_count; }), F);
  assert.deepEqual([v2.dataset.pad_last_batch, v2.pruning.pruning_exact_count], [false, false]);
  throwsWith(() => hparamsFromJSON('{"dataset": ', F), F, 'not valid JSON');
  // null (Python None) means unset; a file from before a knob existed loads with its default.
  const old = edit(j => { j.training.gamma = null; j.training.milestone_steps = null; delete j.training.nesterov_momentum; delete j.model.output_frozen; });
  const loaded = hparamsFromJSON(old, F);
  assert.equal(loaded.training.gamma, undefined);
  assert.equal(loaded.training.nesterov_momentum, 0);
  assert.equal(loaded.model.output_frozen, false);
});

// Pinned: if one of these changes, every saved run folder with these hparams is orphaned.
// Change the scheme only together with HASH_VERSION_TAG. (v1 → v2, 2026-12: OpenLTH's last batch
// and pruning count became the defaults; v1's values were acb48e4e0d, f008e40889, 655c0f5c2b.)
const PINNED: [string, () => Hparams, string][] = [
  ['cifar_resnet_20 defaults', () => presetHparams('cifar_resnet_20'), '3b207453ef'],
  ['mnist_lenet_300_100 defaults', () => presetHparams('mnist_lenet_300_100'), '494bb45097'],
  ['cifar_resnet_20, lr 0.05, 2ep warmup', () => parseHparams({ default_hparams: 'cifar_resnet_20', lr: '0.05', warmup_steps: '2ep' }), '029341ab06'],
];

test('run hashes are pinned and are SHA-256 of the documented canonical text', () => {
  for (const [what, make, want] of PINNED) {
    const h = make();
    assert.equal(hparamsHash(h), want, what);
    assert.equal(createHash('sha256').update(hparamsHashInput(h)).digest('hex').slice(0, 10), want, `${what} (node:crypto)`);
  }
  assert.equal(hparamsHashInput(presetHparams('mnist_lenet_300_100')), 'earlyphase.hparams.v2\n' +
    '{"dataset":{"batch_size":128,"dataset_name":"mnist"},"model":{"batchnorm_init":"uniform","model_init":"kaiming_normal",' +
    '"model_name":"mnist_lenet_300_100"},"pruning":{"pruning_layers_to_ignore":["fc.weight"],"pruning_strategy":"sparse_global"},' +
    '"training":{"lr":0.1,"optimizer_name":"sgd","training_steps":"40ep"}}');
});

test('run hashes ignore flag order, explicit defaults and spelling; any real change changes them', () => {
  const base = hparamsHash(presetHparams('cifar_resnet_20'));
  const flags: [string, string][] = [['default_hparams', 'cifar_resnet_20'], ['lr', '0.05'], ['batch_size', '64'], ['warmup_steps', '1ep']];
  const reversed = [...flags].reverse();
  assert.equal(hparamsHash(parseHparams(flags)), hparamsHash(parseHparams(reversed)));
  // Explicitly giving a value equal to the current one (preset's or schema's default) changes nothing.
  assert.equal(hparamsHash(parseHparams({ default_hparams: 'cifar_resnet_20', lr: '0.1', momentum: '0.90',
    pruning_fraction: '0.2', nesterov_momentum: '0', do_not_augment: 'false', milestone_steps: '80ep,120ep0it', training_steps: '160ep0it' })), base);
  // The same experiment spelled out without a preset gets the same folder.
  assert.equal(hparamsHash(parseHparams({
    dataset_name: 'cifar10', batch_size: '128', model_name: 'cifar_resnet_20', model_init: 'kaiming_normal', batchnorm_init: 'uniform',
    optimizer_name: 'sgd', lr: '0.1', training_steps: '160ep', momentum: '0.9', milestone_steps: '80ep,120ep', gamma: '0.1',
    weight_decay: '0.0001', pruning_strategy: 'sparse_global',
  })), base);
  // A JSON round trip keeps the hash.
  assert.equal(hparamsHash(hparamsFromJSON(hparamsToJSON(presetHparams('cifar_resnet_20')))), base);
  // Real changes do change it, each differently.
  const changed = ([
    { lr: '0.05' }, { do_not_augment: 'true' }, { batchnorm_init: 'fixed' }, { data_order_seed: '0' }, { pruning_fraction: '0.3' },
    { milestone_steps: '120ep,80ep' }, { model_name: 'cifar_resnet_56' }, { weight_decay: '0' },
  ] as Record<string, string>[]).map(o => hparamsHash(parseHparams({ default_hparams: 'cifar_resnet_20', ...o })));
  assert.equal(new Set([base, ...changed]).size, changed.length + 1);
  // Defaults are omitted from the hashed set, required fields never are.
  const nd = nonDefaultHparams(presetHparams('mnist_lenet_300_100'));
  assert.equal('momentum' in nd.training!, false);
  assert.equal(nd.training!.lr, 0.1);
});

test('sha256 matches node:crypto across block boundaries and UTF-8', () => {
  const text = 'γ ~ U[0,1) — early phase ✓ ';
  for (let n = 0; n <= 130; n++) {
    const s = text.repeat(5).slice(0, n);
    assert.equal(sha256Hex(s), createHash('sha256').update(s, 'utf8').digest('hex'), `length ${n}`);
  }
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('schema: unique flat keys, help for every field, docs list every flag', () => {
  const docs = describeHparams();
  const keys = docs.map(d => d.key);
  assert.equal(new Set(keys).size, keys.length);
  for (const g of GROUP_NAMES) assert.equal(docs.filter(d => d.group === g).length, Object.keys(GROUPS[g].fields).length);
  // OpenLTH's field names, per group (apex_fp16 last, as in OpenLTH's TrainingHparams).
  assert.deepEqual(docs.filter(d => d.group === 'training').map(d => d.key), ['optimizer_name', 'lr', 'training_steps',
    'data_order_seed', 'momentum', 'nesterov_momentum', 'milestone_steps', 'gamma', 'warmup_steps', 'weight_decay', 'apex_fp16']);
  const md = hparamsMarkdown(), help = formatHparamsHelp();
  for (const d of docs) {
    assert.ok(d.help.length > 10, `${d.key} has help`);
    assert.ok(md.includes(`\`${d.flag}\``) && help.includes(`  ${d.flag}`), `${d.flag} documented`);
  }
  assert.ok(help.includes('--lr <number>  (required)'));
  assert.ok(formatHparamsHelp('cifar_resnet_20').includes('--milestone-steps <steps,...>  (default: 80ep,120ep)'));
  // validateHparams catches objects built in code, too.
  const h = presetHparams('cifar_resnet_20');
  throwsWith(() => validateHparams({ ...h, training: { ...h.training, lr: -1 } }, 'code'), 'code: training.lr: invalid value -1');
});
