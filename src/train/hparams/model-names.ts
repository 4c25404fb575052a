// Which model names exist, by family, with OpenLTH's naming rules. Kept apart from the model zoo
// (src/nn/) so hyperparameters can be validated — and a bad --model-name rejected at the command
// line — without building a network. Presets (presets.ts) hang their defaults on these families,
// which is how OpenLTH's --default_hparams accepts any valid name (cifar_resnet_56, cifar_resnet_20_64).

import { resnetBlocks } from '../../nn/zoo.ts';

export type ModelFamilyId = 'mnist_lenet' | 'cifar_resnet' | 'cifar_vgg' | 'cifar_conv';

export interface ModelFamily {
  readonly id: ModelFamilyId;
  /** The naming pattern as shown to users. */
  readonly pattern: string;
  readonly examples: readonly string[];
  matches(name: string): boolean;
}

/** Underscore-separated positive integers after `prefix`; undefined when the name doesn't fit. */
function numbersAfter(name: string, prefix: string): number[] | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const parts = name.slice(prefix.length).split('_');
  return parts.every(p => /^[1-9][0-9]*$/.test(p)) ? parts.map(Number) : undefined;
}

export const MODEL_FAMILIES: readonly ModelFamily[] = [
  {
    id: 'mnist_lenet',
    pattern: 'mnist_lenet_N1[_N2...] (hidden layer widths)',
    examples: ['mnist_lenet_300_100'],
    matches: name => numbersAfter(name, 'mnist_lenet_') !== undefined,
  },
  {
    id: 'cifar_resnet',
    pattern: 'cifar_resnet_D[_W] (depth D = 6n+2, or 6n+4 as in WRN-16-8 = cifar_resnet_16_128; width W, default 16), cifar_resnet18',
    examples: ['cifar_resnet_20', 'cifar_resnet_56', 'cifar_resnet_110', 'cifar_resnet_20_64', 'cifar_resnet_16_128', 'cifar_resnet18'],
    matches: name => {
      if (name === 'cifar_resnet18') return true; // ResNet-18 for CIFAR input: trained with the CIFAR ResNet recipe
      const n = numbersAfter(name, 'cifar_resnet_');
      return n !== undefined && n.length <= 2 && resnetBlocks(n[0]!) !== null;
    },
  },
  {
    id: 'cifar_vgg',
    pattern: 'cifar_vgg_{11,13,16,19}',
    examples: ['cifar_vgg_11', 'cifar_vgg_13', 'cifar_vgg_16', 'cifar_vgg_19'],
    matches: name => /^cifar_vgg_(11|13|16|19)$/.test(name),
  },
  {
    // Not in OpenLTH: the original lottery-ticket paper's Conv-2/4/6.
    id: 'cifar_conv',
    pattern: 'cifar_conv_{2,4,6}',
    examples: ['cifar_conv_2', 'cifar_conv_4', 'cifar_conv_6'],
    matches: name => /^cifar_conv_(2|4|6)$/.test(name),
  },
];

export function modelFamilyOf(name: string): ModelFamily | undefined {
  return MODEL_FAMILIES.find(f => f.matches(name));
}

/** For error messages: every accepted pattern. */
export function modelNamePatterns(): string {
  return MODEL_FAMILIES.map(f => f.pattern).join('; ');
}
