// Sweeps named after the paper's figures, for two setups: `lenet` (LeNet-300-100 on Fashion-MNIST,
// shortened so a figure finishes on a 2-core CPU in tens of minutes) and `resnet20` (the paper's
// CIFAR-10 ResNet-20 recipe, 160 epochs per level: for a real GPU).
import { HparamsError } from '../errors.ts';
import type { SweepSpec } from './sweep.ts';
import { PRETRAIN_TASKS } from './pretrain-tasks.ts';

const LENET = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.1', '--training-steps', '6ep'];
const RESNET = ['--default-hparams', 'cifar_resnet_20'];

type Setup = 'lenet' | 'resnet20';

const PRESETS: Record<string, (s: Setup) => SweepSpec> = {
  // Accuracy vs weights remaining for several rewind points k (the paper's Figure 1 / §3).
  rewinding: (s) => s === 'lenet'
    ? { name: 'rewinding-lenet', flags: LENET, levels: '0-11', replicates: [1, 2], rewinding_steps: ['0it', '10it', '30it', '100it'],
        branches: [{ name: 'randomly_reinitialize', levels: '2,5,8,11' }], instability: { levels: '0,5', points: 5 } }
    : { name: 'rewinding-resnet20', flags: RESNET, levels: '0-13', replicates: [1, 2],
        rewinding_steps: ['0it', '25it', '50it', '100it', '250it', '500it', '1000it', '2000it', '4000it'],
        branches: [{ name: 'randomly_reinitialize', levels: '4,8,13' }], instability: { levels: '0,8', points: 11 } },
  // Telemetry over the early phase (the paper's §3 timeline): dense runs with telemetry on.
  telemetry: (s) => s === 'lenet'
    ? { name: 'telemetry-lenet', flags: ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--training-steps', '10ep'],
        levels: '0-0', replicates: [1, 2], telemetry: true }
    : { name: 'telemetry-resnet20', flags: RESNET, levels: '0-0', replicates: [1, 2], telemetry: true },
  // Perturbations at the rewind point against rewinding and random reinitialisation (§4).
  perturbations: (s) => {
    const levels = s === 'lenet' ? '2,5,8' : '4,8,13';
    const branches: SweepSpec['branches'] = [
      { name: 'sign_preserving_reinit', levels },
      { name: 'randomly_reinitialize', levels },
      { name: 'shuffle_weights', options: { mode: 'values' }, levels },
      { name: 'shuffle_weights', options: { mode: 'magnitudes' }, levels },
      { name: 'gaussian_noise', options: { alpha: '1', scale: 'effective_std' }, levels },
    ];
    return {
      name: `perturbations-${s}`, flags: s === 'lenet' ? LENET : RESNET, levels: s === 'lenet' ? '0-8' : '0-13', replicates: [1, 2],
      rewinding_steps: [s === 'lenet' ? '30it' : '500it'],
      branches,
    };
  },
  // Pre-training tasks and lengths as the rewind point (§5).
  pretraining: (s) => ({
    name: `pretraining-${s}`, flags: s === 'lenet' ? LENET : RESNET, levels: s === 'lenet' ? '0-5' : '0-13', replicates: [1, 2],
    pretrain: s === 'lenet'
      ? [
          { label: 'rotation 1ep', flags: [...PRETRAIN_TASKS.rotation.flags, '--pretrain-training-steps', '1ep'] },
          { label: 'rotation 3ep', flags: [...PRETRAIN_TASKS.rotation.flags, '--pretrain-training-steps', '3ep'] },
          { label: 'random labels 1ep', flags: [...PRETRAIN_TASKS.random_labels.flags, '--pretrain-training-steps', '1ep'] },
          { label: 'blur 4 1ep', flags: [...PRETRAIN_TASKS.blur.flags, '--pretrain-training-steps', '1ep'] },
        ]
      : ['2ep', '10ep', '40ep'].flatMap((p) => [
          { label: `rotation ${p}`, flags: [...PRETRAIN_TASKS.rotation.flags, '--pretrain-training-steps', p, '--pretrain-counts-against-budget=false'] },
          { label: `blur 4 ${p}`, flags: [...PRETRAIN_TASKS.blur.flags, '--pretrain-training-steps', p, '--pretrain-counts-against-budget=false'] },
        ]).concat([{ label: 'random labels 2ep', flags: [...PRETRAIN_TASKS.random_labels.flags, '--pretrain-training-steps', '2ep', '--pretrain-counts-against-budget=false'] }]),
  }),
};

export const SWEEP_PRESETS = Object.keys(PRESETS);

export function sweepPreset(name: string, setup: string): SweepSpec {
  const p = PRESETS[name];
  if (!p) throw new HparamsError(`unknown sweep preset "${name}"; presets: ${SWEEP_PRESETS.join(', ')} (or a spec file path)`);
  if (setup !== 'lenet' && setup !== 'resnet20') throw new HparamsError(`--setup ${setup}: expected lenet or resnet20`);
  return p(setup);
}
