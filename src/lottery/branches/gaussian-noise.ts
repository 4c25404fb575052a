// §4 of the paper: add Gaussian noise to the surviving weights of w_k, N(0, (α σ_layer)²), to ask
// whether the early phase is just "any perturbation of this size". σ_layer is per prunable tensor:
// init_std = the layer's Kaiming std √(2/fan_in) (what a fresh draw would have); effective_std =
// the standard deviation of w_k − w_0 over the layer's surviving weights (how far training has
// actually moved them by step k), so α = 1 is noise of the size of the early-training change.
import { defineBranch } from './define.ts';
import { Rng } from '../../rng.ts';
import { branchStreamSeed, survivors } from './tensors.ts';

export const NOISE_SCALES = ['init_std', 'effective_std'] as const;

export type NoiseOptions = { alpha: number; scale: typeof NOISE_SCALES[number] };

export const gaussianNoise = defineBranch<NoiseOptions>({
  name: 'gaussian_noise',
  description: 'Add N(0, (alpha * sigma_layer)^2) to the surviving weights of w_k, per prunable tensor.',
  options: {
    // No default: the paper sweeps α (e.g. 0.25 … 3); a run must say which point it is.
    alpha: { kind: 'number', min: 0, minExclusive: true, help: 'Noise std as a multiple of sigma_layer; > 0 (the paper sweeps about 0.25 to 3).' },
    scale: {
      kind: 'enum', values: NOISE_SCALES, default: 'init_std',
      help: 'sigma_layer: init_std = sqrt(2/fan_in) of the layer; effective_std = std of (w_k - w_0) over the layer\'s surviving weights.',
    },
  },
  perturb(out, input, slots) {
    const { alpha, scale } = input.options;
    for (const s of slots) {
      if (!s.param.prunable) continue;
      const idx = survivors(input.mask, s);
      const sigma = scale === 'init_std' ? Math.sqrt(2 / s.param.fanIn) : effectiveStd(input.w0, input.wk, idx);
      const rng = new Rng(branchStreamSeed(input.seed, 'gaussian_noise', s.name));
      for (const i of idx) out[i] = input.wk[i]! + alpha * sigma * rng.normal();
    }
  },
});

/** Population standard deviation of w_k − w_0 over the given positions (0 when there are none). */
export function effectiveStd(w0: Float32Array, wk: Float32Array, idx: readonly number[]): number {
  if (idx.length === 0) return 0;
  let mean = 0;
  for (const i of idx) mean += wk[i]! - w0[i]!;
  mean /= idx.length;
  let ss = 0;
  for (const i of idx) { const d = wk[i]! - w0[i]! - mean; ss += d * d; }
  return Math.sqrt(ss / idx.length);
}
