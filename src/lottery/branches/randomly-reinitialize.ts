// OpenLTH's randomly_reinitialize branch (lottery/branch/randomly_reinitialize.py): it builds a
// brand-new model from the model hparams — so EVERY parameter, biases and batchnorm included,
// comes from a fresh initialisation — and wraps it in PrunedModel with the level's mask, so the
// pruned weights are 0. We follow that: unlike the other branches, non-prunable tensors are NOT
// taken from w_k. (OpenLTH draws from the global torch RNG; here the draw is seeded by the branch
// seed, see freshInitSeed.) OpenLTH's start_at_step_zero flag chooses the training start step, not
// the weights, so it belongs to the branch runner, not to this transform.
import { defineBranch } from './define.ts';
import { freshInit } from './tensors.ts';

export const randomlyReinitialize = defineBranch<Record<string, never>>({
  name: 'randomly_reinitialize',
  description: 'Randomly reinitialize the model (OpenLTH): every parameter from a fresh init draw, pruned weights 0.',
  options: {},
  perturb(out, input, slots) {
    const fresh = freshInit(input);
    for (const s of slots) {
      for (let i = s.offset; i < s.offset + s.length; i++) {
        out[i] = !s.param.prunable || input.mask[i] === 1 ? fresh[i]! : 0;
      }
    }
  },
});
