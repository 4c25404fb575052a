// The model zoo: the paper's networks with OpenLTH's module names (so parameter names, counts and
// pruning defaults match OpenLTH checkpoints and hashes). Names are parsed like OpenLTH's
// registry: mnist_lenet_N1_N2…, cifar_resnet_D[_W], cifar_vgg_{11,13,16,19}, plus the original
// lottery-ticket convnets cifar_conv_{2,4,6} and ResNet-18 for CIFAR input (cifar_resnet18).
import { UserError } from '../errors.ts';
import type { ModelSpec, Node } from './graph.ts';

const conv = (name: string, cin: number, cout: number, k: number, stride: number, bias: boolean): Node =>
  ({ op: 'conv', name, cin, cout, k, stride, pad: k === 3 ? 1 : 0, bias });
const bn = (name: string, c: number): Node => ({ op: 'bn', name, c });
const relu: Node = { op: 'relu' };

/** Channels × height × width of one input image. */
export type InputShape = readonly [number, number, number];
const MNIST_INPUT: InputShape = [1, 28, 28];
const CIFAR_INPUT: InputShape = [3, 32, 32];

/** mnist_lenet_300_100: fc_layers.i (Linear+ReLU) then fc. Output layer not pruned by default. */
function lenet(plan: number[], input: InputShape): Omit<ModelSpec, 'name'> {
  const layers: Node[] = [{ op: 'flatten' }];
  let size = input[0] * input[1] * input[2];
  plan.forEach((out, i) => { layers.push({ op: 'linear', name: `fc_layers.${i}`, in: size, out }, relu); size = out; });
  layers.push({ op: 'linear', name: 'fc', in: size, out: 10 });
  return { input: [...input], classes: 10, layers, defaultIgnored: ['fc.weight'] };
}

/**
 * Blocks per segment for a depth: OpenLTH counts D = 6n+2 (20, 32, 44, 56, 110). Wide-ResNet
 * names count the two 1×1 shortcut convs too, D = 6n+4, so WRN-16-8 = cifar_resnet_16_128 has
 * n = 2; depths of that form are read that way (they are never of the form 6n+2).
 */
export function resnetBlocks(depth: number): number | null {
  if (depth > 2 && (depth - 2) % 6 === 0) return (depth - 2) / 6;
  if (depth > 4 && (depth - 4) % 6 === 0) return (depth - 4) / 6;
  return null;
}

/** OpenLTH cifar_resnet: 3 segments of n blocks, widths W, 2W, 4W; 1×1 stride-2 conv+BN shortcut on shape change. */
function cifarResnet(d: number, width: number, input: InputShape): Omit<ModelSpec, 'name'> {
  const layers: Node[] = [conv('conv', input[0], width, 3, 1, false), bn('bn', width), relu];
  let cin = width, b = 0;
  for (const [seg, f] of [width, 2 * width, 4 * width].entries()) {
    for (let i = 0; i < d; i++, b++) {
      const down = seg > 0 && i === 0, p = `blocks.${b}`;
      layers.push({
        op: 'residual',
        body: [conv(`${p}.conv1`, cin, f, 3, down ? 2 : 1, false), bn(`${p}.bn1`, f), relu, conv(`${p}.conv2`, f, f, 3, 1, false), bn(`${p}.bn2`, f)],
        shortcut: down || cin !== f ? [conv(`${p}.shortcut.0`, cin, f, 1, 2, false), bn(`${p}.shortcut.1`, f)] : [],
      }, relu);
      cin = f;
    }
  }
  layers.push({ op: 'gap' }, { op: 'linear', name: 'fc', in: 4 * width, out: 10 });
  return { input: [...input], classes: 10, layers, defaultIgnored: [] };
}

const VGG_PLANS: Record<number, (number | 'M')[]> = {
  11: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512],
  13: [64, 64, 'M', 128, 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512],
  16: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512],
  19: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 256, 'M', 512, 512, 512, 512, 'M', 512, 512, 512, 512],
};

/** OpenLTH cifar_vgg: layers.i = conv3×3(bias)+BN+ReLU or max-pool, then 2×2 average pool and fc. */
function cifarVgg(n: number, input: InputShape): Omit<ModelSpec, 'name'> {
  // Four 2×2 max-pools then a 2×2 average pool must leave exactly 1×1 for the 512-wide fc layer.
  if (Math.min(input[1], input[2]) < 32) {
    throw new UnknownModelError(`cifar_vgg_${n} needs images of at least 32×32 (its five poolings halve them five times), got ${input[1]}×${input[2]}`);
  }
  const layers: Node[] = [];
  let cin = input[0];
  VGG_PLANS[n]!.forEach((s, i) => {
    if (s === 'M') layers.push({ op: 'maxpool2' });
    else { layers.push(conv(`layers.${i}.conv`, cin, s, 3, 1, true), bn(`layers.${i}.bn`, s), relu); cin = s; }
  });
  layers.push({ op: 'avgpool', k: 2 }, { op: 'flatten' }, { op: 'linear', name: 'fc', in: 512 * Math.floor(input[1] / 32) * Math.floor(input[2] / 32), out: 10 });
  return { input: [...input], classes: 10, layers, defaultIgnored: ['fc.weight'] };
}

/** Conv-2/4/6 of the original lottery ticket paper: pairs of conv3×3 (64, 128, 256) + max-pool, then FC 256-256-10. */
function cifarConv(n: 2 | 4 | 6, input: InputShape): Omit<ModelSpec, 'name'> {
  const layers: Node[] = [];
  let [cin, h, w] = input, i = 0;
  for (const f of [64, 128, 256].slice(0, n / 2)) {
    for (let r = 0; r < 2; r++, i++) { layers.push(conv(`conv_layers.${i}`, cin, f, 3, 1, true), relu); cin = f; }
    layers.push({ op: 'maxpool2' });
    h = Math.floor(h / 2); w = Math.floor(w / 2); // floor mode, as PyTorch's MaxPool2d
  }
  if (h < 1 || w < 1) throw new UnknownModelError(`cifar_conv_${n}: ${input[1]}×${input[2]} images are too small for ${n / 2} poolings`);
  layers.push({ op: 'flatten' },
    { op: 'linear', name: 'fc_layers.0', in: cin * h * w, out: 256 }, relu,
    { op: 'linear', name: 'fc_layers.1', in: 256, out: 256 }, relu,
    { op: 'linear', name: 'fc', in: 256, out: 10 });
  return { input: [...input], classes: 10, layers, defaultIgnored: ['fc.weight'] };
}

/** ResNet-18 (torchvision module names) with a 3×3 stride-1 stem and no max-pool, for 32×32 input. */
function resnet18Cifar(input: InputShape): Omit<ModelSpec, 'name'> {
  const layers: Node[] = [conv('conv1', input[0], 64, 3, 1, false), bn('bn1', 64), relu];
  let cin = 64;
  for (const [s, f] of [64, 128, 256, 512].entries()) {
    for (let i = 0; i < 2; i++) {
      const stride = s > 0 && i === 0 ? 2 : 1, p = `layer${s + 1}.${i}`;
      layers.push({
        op: 'residual',
        body: [conv(`${p}.conv1`, cin, f, 3, stride, false), bn(`${p}.bn1`, f), relu, conv(`${p}.conv2`, f, f, 3, 1, false), bn(`${p}.bn2`, f)],
        shortcut: stride !== 1 || cin !== f ? [conv(`${p}.downsample.0`, cin, f, 1, stride, false), bn(`${p}.downsample.1`, f)] : [],
      }, relu);
      cin = f;
    }
  }
  layers.push({ op: 'gap' }, { op: 'linear', name: 'fc', in: 512, out: 10 });
  return { input: [...input], classes: 10, layers, defaultIgnored: [] };
}

export class UnknownModelError extends UserError { override name = 'UnknownModelError'; }

export const MODEL_EXAMPLES = [
  'mnist_lenet_300_100', 'cifar_conv_2', 'cifar_conv_4', 'cifar_conv_6',
  'cifar_resnet_20', 'cifar_resnet_32', 'cifar_resnet_44', 'cifar_resnet_56', 'cifar_resnet_110', 'cifar_resnet_16_128',
  'cifar_vgg_11', 'cifar_vgg_13', 'cifar_vgg_16', 'cifar_vgg_19', 'cifar_resnet18',
];

/**
 * The network called `name`. `input` sizes its first layer for another dataset's images (OpenLTH
 * builds e.g. mnist_lenet for 28×28 only; here Conv-2 also runs on Fashion-MNIST, as the viewer
 * offers); without it each family takes the images its name says (MNIST or CIFAR-10).
 */
export function getModel(name: string, input?: InputShape): ModelSpec {
  const shape = (fallback: InputShape) => input ?? fallback;
  const parts = name.split('_');
  const ints = (xs: string[]) => xs.every((x) => /^[1-9]\d*$/.test(x)) ? xs.map(Number) : null;
  let body: Omit<ModelSpec, 'name'> | null = null;
  if (name.startsWith('mnist_lenet_') && parts.length > 2) {
    const plan = ints(parts.slice(2));
    if (plan) body = lenet(plan, shape(MNIST_INPUT));
  } else if (name === 'cifar_resnet18') {
    body = resnet18Cifar(shape(CIFAR_INPUT));
  } else if (name.startsWith('cifar_resnet_') && (parts.length === 3 || parts.length === 4)) {
    const dw = ints(parts.slice(2));
    const n = dw && resnetBlocks(dw[0]!);
    if (dw && n) body = cifarResnet(n, dw[1] ?? 16, shape(CIFAR_INPUT));
  } else if (name.startsWith('cifar_vgg_') && parts.length === 3 && VGG_PLANS[Number(parts[2])]) {
    body = cifarVgg(Number(parts[2]), shape(CIFAR_INPUT));
  } else if (/^cifar_conv_[246]$/.test(name)) {
    body = cifarConv(Number(parts[2]) as 2 | 4 | 6, shape(CIFAR_INPUT));
  }
  if (!body) {
    throw new UnknownModelError(`unknown model "${name}"; expected mnist_lenet_N1[_N2…], cifar_resnet_D[_W] with D = 6n+2 ` +
      `(e.g. 20, 56, 110) or 6n+4 (WRN: 16), cifar_vgg_{11,13,16,19}, cifar_conv_{2,4,6} or cifar_resnet18`);
  }
  return { name, ...body };
}

/**
 * The same network with an output layer of `classes` units (the rotation pre-training task has 4;
 * OpenLTH builds the model with `outputs`). Only the final `fc` layer changes.
 */
export function withClasses(spec: ModelSpec, classes: number): ModelSpec {
  if (classes === spec.classes) return spec;
  const last = spec.layers.at(-1);
  if (!last || last.op !== 'linear' || last.name !== 'fc') throw new Error(`${spec.name}: the last layer is not the fc output layer`);
  return { ...spec, classes, layers: [...spec.layers.slice(0, -1), { ...last, out: classes }] };
}

/** The network for a dataset: first layer sized to its images, output layer to `classes`. */
export function modelForData(name: string, images: { channels: number; height: number; width: number }, classes: number): ModelSpec {
  return withClasses(getModel(name, [images.channels, images.height, images.width]), classes);
}
