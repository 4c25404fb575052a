// §4 of the paper: recombine signs and magnitudes from different points of training, e.g. the
// signs of w_k with the magnitudes of w_0 (and vice versa), or either sign with fresh magnitudes.
// signs=rewind, magnitudes=rewind is plain rewinding and signs=init, magnitudes=init is rewinding
// to step 0 under the same mask: both are allowed, as controls run through the same code path.
import { defineBranch } from './define.ts';
import { freshInit, signOf, survivors } from './tensors.ts';

export const SIGN_SOURCES = ['init', 'rewind'] as const;
export const MAGNITUDE_SOURCES = ['init', 'rewind', 'fresh'] as const;

export type MixOptions = {
  signs: typeof SIGN_SOURCES[number];
  magnitudes: typeof MAGNITUDE_SOURCES[number];
};

export const mixSignsMagnitudes = defineBranch<MixOptions>({
  name: 'mix_signs_magnitudes',
  description: 'Surviving weights: sign from w_0 or w_k, magnitude from w_0, w_k or a fresh init draw.',
  // No defaults: every combination is a different experiment, so the run must say which.
  options: {
    signs: { kind: 'enum', values: SIGN_SOURCES, help: 'Where signs come from: init = w_0 (step 0), rewind = w_k (the rewind step).' },
    magnitudes: {
      kind: 'enum', values: MAGNITUDE_SOURCES,
      help: 'Where magnitudes come from: init = |w_0|, rewind = |w_k|, fresh = |a fresh init draw| (seeded by the branch seed).',
    },
  },
  perturb(out, input, slots) {
    const { signs, magnitudes } = input.options;
    const signSrc = signs === 'init' ? input.w0 : input.wk;
    const magSrc = magnitudes === 'init' ? input.w0 : magnitudes === 'rewind' ? input.wk : freshInit(input);
    for (const s of slots) {
      if (!s.param.prunable) continue;
      for (const i of survivors(input.mask, s)) out[i] = signOf(signSrc[i]!) * Math.abs(magSrc[i]!);
    }
  },
});
