// §4 of the paper: keep only the signs of w_k, take every magnitude from a fresh draw of the
// initialisation distribution. Tests whether signs alone carry the benefit of rewinding to k.
import { defineBranch } from './define.ts';
import { freshInit, signOf, survivors } from './tensors.ts';

export const signPreservingReinit = defineBranch<Record<string, never>>({
  name: 'sign_preserving_reinit',
  description: 'Surviving weights: sign of w_k, magnitude from a fresh init draw (a weight at exactly 0 stays 0).',
  options: {},
  perturb(out, input, slots) {
    const fresh = freshInit(input);
    for (const s of slots) {
      if (!s.param.prunable) continue;
      for (const i of survivors(input.mask, s)) out[i] = signOf(input.wk[i]!) * Math.abs(fresh[i]!);
    }
  },
});
