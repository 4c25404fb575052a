// The four hyperparameter groups, field for field after OpenLTH's foundations/hparams.py and
// pruning/sparse_global.py. Field names keep OpenLTH's snake_case so one spelling serves JSON
// files, hashes and docs (flags are the kebab-case form, the underscore form is accepted too).
//
// Defaults here are "no-effect" defaults: the value that means the feature is off. They are what
// run hashes are taken relative to (see hash.ts), so they must never change once runs exist.
// Deliberate differences from OpenLTH:
//  - apex_fp16 is mixed precision with PyTorch AMP's numerics (autocast + GradScaler: docs/mixed-precision.md),
//    where OpenLTH used NVIDIA apex's amp (O1, whose dynamic scaler also caps the scale at 2^24);
//  - weight_decay defaults to 0 rather than unset, so "--weight-decay 0" and no flag name the same run;
//  - milestone_steps, pruning_layers_to_ignore and others_frozen_exceptions are typed lists;
//  - pruning_strategy also accepts sparse_layerwise (each prunable tensor loses the same fraction; docs/usage.md, `earlyphase lottery`);
//  - pad_last_batch and pruning_exact_count keep earlyphase 0.1's semantics (full last batch,
//    exact pruning count) as options; OpenLTH's are the default (hash tag v2, src/train/hash.ts).

import type { GroupDef } from './schema.ts';
import { modelFamilyOf, modelNamePatterns } from './model-names.ts';

const SEED_MAX = 0xffffffff; // seeds feed a 32-bit generator (src/rng.ts)

// synthetic: src/data/synthetic.ts, generated in memory, for smoke runs and tests.
export const DATASET_NAMES = ['mnist', 'fashion_mnist', 'cifar10', 'synthetic'] as const;
export type DatasetName = typeof DATASET_NAMES[number];

export interface DatasetHparams {
  dataset_name: DatasetName;
  batch_size: number;
  do_not_augment: boolean;
  transformation_seed?: number;
  subsample_fraction?: number;
  random_labels_fraction?: number;
  unsupervised_labels?: 'rotation';
  blur_factor?: number;
  pad_last_batch: boolean;
}

export const DATASET_GROUP: GroupDef<DatasetHparams> = {
  name: 'dataset',
  title: 'Dataset hyperparameters',
  description: 'Select the dataset, data augmentation, and other data transformations.',
  fields: {
    dataset_name: { kind: 'enum', values: DATASET_NAMES, help: 'The dataset to train on.' },
    batch_size: { kind: 'integer', min: 1, help: 'Examples per minibatch; also fixes the epoch length (ceil(examples / batch)).' },
    do_not_augment: { kind: 'boolean', help: 'Disable data augmentation (random crop + flip on CIFAR-10).' },
    transformation_seed: {
      kind: 'integer', min: 0, max: SEED_MAX, optional: true,
      help: 'Seed for dataset transformations (random labels, subsampling, rotation labels, crop/flip draws); unset: derived from --replicate.',
    },
    subsample_fraction: {
      kind: 'number', min: 0, minExclusive: true, max: 1, optional: true,
      help: 'Keep only this fraction of the training set.',
    },
    random_labels_fraction: {
      kind: 'number', min: 0, minExclusive: true, max: 1, optional: true,
      help: 'Replace the labels of this fraction of the training set with fixed random labels.',
    },
    unsupervised_labels: {
      kind: 'enum', values: ['rotation'], optional: true,
      help: 'Replace the labels with self-supervised ones: rotation = predict which multiple of 90° the image was rotated by (4 classes).',
    },
    blur_factor: {
      kind: 'integer', min: 2, optional: true,
      help: 'Blur the training set by downsampling by this factor and upsampling back (4: 32→8→32).',
    },
    pad_last_batch: {
      kind: 'boolean',
      help: 'Fill the last batch of each epoch to the full batch size by wrapping around to the start of the epoch\'s order (earlyphase 0.1); default: the last batch holds the remainder, as in OpenLTH (PyTorch\'s DataLoader).',
    },
  },
};

export const MODEL_INITS = ['kaiming_normal', 'kaiming_uniform', 'binary', 'orthogonal'] as const;
export const BATCHNORM_INITS = ['uniform', 'fixed', 'oneone', 'positivenegative'] as const;

export interface ModelHparams {
  model_name: string;
  model_init: typeof MODEL_INITS[number];
  batchnorm_init: typeof BATCHNORM_INITS[number];
  batchnorm_frozen: boolean;
  output_frozen: boolean;
  others_frozen: boolean;
  others_frozen_exceptions?: readonly string[];
  init_weights_sha256?: string;
}

export const MODEL_GROUP: GroupDef<ModelHparams> = {
  name: 'model',
  title: 'Model hyperparameters',
  description: 'Select the model, its initialisation, and which parameters are frozen.',
  fields: {
    model_name: {
      kind: 'string',
      check: name => modelFamilyOf(name) ? undefined : `a model name of the form ${modelNamePatterns()}`,
      help: 'The network, e.g. mnist_lenet_300_100, cifar_resnet_20, cifar_resnet_20_64, cifar_vgg_16, cifar_conv_4.',
    },
    model_init: { kind: 'enum', values: MODEL_INITS, help: 'Initialiser of conv and linear weights.' },
    batchnorm_init: {
      kind: 'enum', values: BATCHNORM_INITS,
      help: 'Batchnorm initialiser: uniform = γ ~ U[0,1), β = 0 (OpenLTH); fixed = γ 1, β 0 (PyTorch); oneone = γ 1, β 1; positivenegative = γ ~ U[-1,1), β 0.',
    },
    batchnorm_frozen: { kind: 'boolean', help: 'Freeze all batchnorm parameters at initialisation.' },
    output_frozen: { kind: 'boolean', help: 'Freeze the output layer at initialisation.' },
    others_frozen: { kind: 'boolean', help: 'Freeze all parameters that are neither batchnorm nor the output layer.' },
    others_frozen_exceptions: {
      kind: 'list', item: 'name', optional: true,
      help: 'Tensors (e.g. fc.weight) exempt from --others-frozen.',
    },
    // Not in OpenLTH. Set by `--init-weights FILE` (runner/data/init-weights.ts), so a run started from a
    // file is named by the file's content; unset (the seeded initialisation) leaves every hash as it was.
    init_weights_sha256: {
      kind: 'string', optional: true,
      check: v => /^[0-9a-f]{64}$/.test(v) ? undefined : '64 lowercase hex digits (the SHA-256 of the file --init-weights reads)',
      help: 'Start from the weights file with this SHA-256 instead of the seeded initialisation; set by --init-weights FILE, which reads the file.',
    },
  },
};

export const OPTIMIZER_NAMES = ['sgd', 'adam'] as const;

export interface TrainingHparams {
  optimizer_name: typeof OPTIMIZER_NAMES[number];
  lr: number;
  training_steps: string;
  data_order_seed?: number;
  momentum: number;
  nesterov_momentum: number;
  milestone_steps?: readonly string[];
  gamma?: number;
  warmup_steps?: string;
  weight_decay: number;
  apex_fp16: boolean;
}

export const TRAINING_GROUP: GroupDef<TrainingHparams> = {
  name: 'training',
  title: 'Training hyperparameters',
  description: 'How the network is trained: optimiser, learning-rate schedule, duration, data order.',
  fields: {
    optimizer_name: { kind: 'enum', values: OPTIMIZER_NAMES, help: 'The optimiser.' },
    lr: { kind: 'number', min: 0, minExclusive: true, help: 'The (peak) learning rate.' },
    training_steps: { kind: 'step', help: 'How long to train, e.g. 160ep or 50000it.' },
    data_order_seed: {
      kind: 'integer', min: 0, max: SEED_MAX, optional: true,
      help: 'Seed for the order of training examples; unset: derived from --replicate, so the same command always sees the same order.',
    },
    momentum: { kind: 'number', min: 0, max: 1, maxExclusive: true, default: 0, help: 'SGD momentum.' },
    nesterov_momentum: {
      kind: 'number', min: 0, max: 1, maxExclusive: true, default: 0,
      help: 'SGD Nesterov momentum (use instead of --momentum, not with it).',
    },
    milestone_steps: {
      kind: 'list', item: 'step', optional: true,
      help: 'Steps at which the learning rate is multiplied by --gamma, e.g. 80ep,120ep.',
    },
    gamma: { kind: 'number', min: 0, minExclusive: true, optional: true, help: 'Learning-rate factor at each milestone.' },
    warmup_steps: { kind: 'step', optional: true, help: 'Linear learning-rate warmup from 0 over these steps, e.g. 20ep or 800it.' },
    weight_decay: { kind: 'number', min: 0, default: 0, help: 'L2 penalty, applied to all parameters.' },
    apex_fp16: {
      kind: 'boolean',
      help: 'Mixed precision with PyTorch AMP\'s numerics: conv and linear layers on f16 inputs and weights (f32 sums), f16 activations, f32 master weights and optimiser state, dynamic loss scaling (2^16, ×0.5 and skip on inf/NaN, ×2 after 2000 clean steps); see docs/mixed-precision.md.',
    },
  },
};

export const PRUNING_STRATEGIES = ['sparse_global', 'sparse_layerwise'] as const;

export interface PruningHparams {
  pruning_strategy: typeof PRUNING_STRATEGIES[number];
  pruning_fraction: number;
  pruning_layers_to_ignore?: readonly string[];
  pruning_exact_count: boolean;
}

export const PRUNING_GROUP: GroupDef<PruningHparams> = {
  name: 'pruning',
  title: 'Pruning hyperparameters',
  description: 'How the network is pruned at each level of iterative magnitude pruning.',
  fields: {
    pruning_strategy: {
      kind: 'enum', values: PRUNING_STRATEGIES,
      help: 'sparse_global = smallest magnitudes across all prunable tensors; sparse_layerwise = the same fraction from each tensor.',
    },
    pruning_fraction: {
      kind: 'number', min: 0, minExclusive: true, max: 1, maxExclusive: true, default: 0.2,
      help: 'Fraction of the remaining prunable weights removed per level.',
    },
    pruning_layers_to_ignore: {
      kind: 'list', item: 'name', optional: true,
      help: 'Prunable tensors to leave dense, e.g. fc.weight (the output layer).',
    },
    pruning_exact_count: {
      kind: 'boolean',
      help: 'Prune exactly ceil(fraction × remaining) weights per level, ties broken by position (earlyphase 0.1); default: OpenLTH\'s threshold rule, which removes one weight more plus any tied with the threshold.',
    },
  },
};

/** A full set of hyperparameters: what a training or lottery run is a function of. */
export interface Hparams {
  dataset: DatasetHparams;
  model: ModelHparams;
  training: TrainingHparams;
  pruning: PruningHparams;
}

export type GroupName = keyof Hparams;

/** The groups in the fixed order used for --help, JSON and hashing. */
export const GROUPS: { readonly [G in GroupName]: GroupDef<Hparams[G]> } = {
  dataset: DATASET_GROUP,
  model: MODEL_GROUP,
  training: TRAINING_GROUP,
  pruning: PRUNING_GROUP,
};
export const GROUP_NAMES = Object.keys(GROUPS) as GroupName[];
