// §4 of the paper: permute the surviving weights within each prunable tensor. `values` keeps each
// layer's distribution but destroys which weight sits where; `magnitudes` also keeps every
// position's sign and permutes only |w| — the paper's evidence that the weights at k are not
// independent draws even when their signs are right.
import { defineBranch } from './define.ts';
import { Rng } from '../../rng.ts';
import { branchStreamSeed, survivors } from './tensors.ts';

export const SHUFFLE_MODES = ['values', 'magnitudes'] as const;

export type ShuffleOptions = { mode: typeof SHUFFLE_MODES[number] };

export const shuffleWeights = defineBranch<ShuffleOptions>({
  name: 'shuffle_weights',
  description: 'Permute the surviving weights of w_k within each prunable tensor (values, or magnitudes keeping signs).',
  options: {
    mode: {
      kind: 'enum', values: SHUFFLE_MODES, default: 'values',
      help: 'values = permute the surviving weights; magnitudes = keep each position\'s sign and permute |w| (a weight at 0 counts as +).',
    },
  },
  perturb(out, input, slots) {
    const { mode } = input.options;
    for (const s of slots) {
      if (!s.param.prunable) continue;
      const idx = survivors(input.mask, s);
      const vals = Float32Array.from(idx, (i) => (mode === 'values' ? input.wk[i]! : Math.abs(input.wk[i]!)));
      new Rng(branchStreamSeed(input.seed, 'shuffle_weights', s.name)).shuffle(vals);
      // A surviving weight at exactly 0 takes + so the layer's multiset of |w| is kept exactly.
      idx.forEach((i, j) => { out[i] = mode === 'values' ? vals[j]! : (input.wk[i]! < 0 ? -vals[j]! : vals[j]!); });
    }
  },
});
