// Default hyperparameters per model family: what `--default-hparams NAME` loads before flags
// override it. As in OpenLTH (models/registry.get_default_hparams), NAME is any valid model name
// and the preset's model_name is replaced by it, so cifar_resnet_56 gets ResNet-20's recipe.
//
// Sources: mnist_lenet, cifar_resnet and cifar_vgg are OpenLTH's default_hparams() verbatim.
// cifar_conv is not in OpenLTH: it follows the original lottery-ticket paper (Frankle & Carbin
// 2019, Fig. 2: Adam, batch 60, Conv-2 lr 2e-4 for 20K iterations, Conv-4 3e-4 / 25K, Conv-6
// 3e-4 / 30K, no augmentation), approximated: that paper prunes conv, fc and output layers at
// different rates, which one global fraction (0.2) does not express. It is marked approximate.
import { HparamsError } from '../errors.ts';

import type { Hparams } from './hparams/groups.ts';
import { validateHparams } from './hparams/build.ts';
import { MODEL_FAMILIES, modelFamilyOf, type ModelFamilyId } from './hparams/model-names.ts';

export interface Preset {
  readonly family: ModelFamilyId;
  /** Where the values come from, for --help and docs/hyperparameters.md. */
  readonly source: string;
  /** True when the values stand in for ones the source does not state exactly (docs/hyperparameters.md marks them approximate). */
  readonly approximate: boolean;
  /** The hyperparameters for one model name of the family. */
  make(modelName: string): Hparams;
}

/** CIFAR ResNets and VGGs share OpenLTH's recipe (OpenLTH's cifar_resnet / cifar_vgg default hparams); VGG leaves the output layer dense. */
function cifarRecipe(modelName: string, layersToIgnore?: readonly string[]): Hparams {
  return {
    dataset: { dataset_name: 'cifar10', batch_size: 128, do_not_augment: false, pad_last_batch: false },
    model: {
      model_name: modelName, model_init: 'kaiming_normal', batchnorm_init: 'uniform',
      batchnorm_frozen: false, output_frozen: false, others_frozen: false,
    },
    training: {
      optimizer_name: 'sgd', lr: 0.1, training_steps: '160ep', momentum: 0.9, nesterov_momentum: 0,
      milestone_steps: ['80ep', '120ep'], gamma: 0.1, weight_decay: 1e-4, apex_fp16: false,
    },
    pruning: {
      pruning_strategy: 'sparse_global', pruning_fraction: 0.2, pruning_exact_count: false,
      ...(layersToIgnore ? { pruning_layers_to_ignore: layersToIgnore } : {}),
    },
  };
}

const CONV_RECIPES: Readonly<Record<string, { lr: number; steps: string }>> = {
  cifar_conv_2: { lr: 2e-4, steps: '20000it' },
  cifar_conv_4: { lr: 3e-4, steps: '25000it' },
  cifar_conv_6: { lr: 3e-4, steps: '30000it' },
};

export const PRESETS: readonly Preset[] = [
  {
    family: 'mnist_lenet', source: 'OpenLTH models/mnist_lenet.py', approximate: false,
    make: modelName => ({
      dataset: { dataset_name: 'mnist', batch_size: 128, do_not_augment: false, pad_last_batch: false },
      model: {
        model_name: modelName, model_init: 'kaiming_normal', batchnorm_init: 'uniform',
        batchnorm_frozen: false, output_frozen: false, others_frozen: false,
      },
      training: { optimizer_name: 'sgd', lr: 0.1, training_steps: '40ep', momentum: 0, nesterov_momentum: 0, weight_decay: 0, apex_fp16: false },
      pruning: { pruning_strategy: 'sparse_global', pruning_fraction: 0.2, pruning_exact_count: false, pruning_layers_to_ignore: ['fc.weight'] },
    }),
  },
  {
    family: 'cifar_resnet', source: 'OpenLTH models/cifar_resnet.py', approximate: false,
    make: modelName => cifarRecipe(modelName),
  },
  {
    family: 'cifar_vgg', source: 'OpenLTH models/cifar_vgg.py', approximate: false,
    make: modelName => cifarRecipe(modelName, ['fc.weight']),
  },
  {
    family: 'cifar_conv', source: 'Frankle & Carbin 2019, Fig. 2 (approximated: one global pruning fraction)',
    approximate: true,
    make: modelName => {
      const r = CONV_RECIPES[modelName];
      if (!r) throw new HparamsError(`preset cifar_conv: no recipe for ${modelName}; known: ${Object.keys(CONV_RECIPES).join(', ')}`);
      return {
        dataset: { dataset_name: 'cifar10', batch_size: 60, do_not_augment: true, pad_last_batch: false },
        model: {
          model_name: modelName, model_init: 'kaiming_normal', batchnorm_init: 'uniform',
          batchnorm_frozen: false, output_frozen: false, others_frozen: false,
        },
        training: { optimizer_name: 'adam', lr: r.lr, training_steps: r.steps, momentum: 0, nesterov_momentum: 0, weight_decay: 0, apex_fp16: false },
        pruning: { pruning_strategy: 'sparse_global', pruning_fraction: 0.2, pruning_exact_count: false },
      };
    },
  },
];

/** Lines naming every accepted preset pattern with examples, for errors and --help. */
export function presetList(): string[] {
  return MODEL_FAMILIES.map(f => {
    const p = PRESETS.find(x => x.family === f.id);
    const note = p?.approximate ? ` [approximate: ${p.source}]` : '';
    return `${f.pattern}, e.g. ${f.examples.join(', ')}${note}`;
  });
}

export function presetFor(name: string): Preset | undefined {
  const family = modelFamilyOf(name);
  return family && PRESETS.find(p => p.family === family.id);
}

/** The checked defaults for `--default-hparams NAME`; unknown names list the known ones. */
export function presetHparams(name: string): Hparams {
  const preset = presetFor(name);
  if (!preset) {
    throw new HparamsError(`unknown preset ${JSON.stringify(name)} for --default-hparams; known presets (any model name of these forms):\n  ` +
      presetList().join('\n  '));
  }
  return validateHparams(preset.make(name), `preset ${name}`);
}
