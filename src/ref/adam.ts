// float64 reference for one step of masked Adam, from the algorithm in PyTorch's torch.optim.Adam
// documentation (amsgrad off, maximize off; L2 weight decay added to the gradient):
//   g = ∇ + λ·w;  m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²;
//   m̂ = m / (1−β1^t);  v̂ = v / (1−β2^t);  w = w − lr·m̂ / (√v̂ + ε).
// Then pruning: where mask = 0, w, m and v are 0.
import type { AdamOptions } from '../kernels/adam.ts';

/** Step number `t` (1 for the first step of a fresh optimiser); updates `w`, `m` and `v` in place. */
export function adamStep(w: Float64Array, grad: Float64Array, m: Float64Array, v: Float64Array, mask: Float64Array,
  lr: number, t: number, o: AdamOptions): void {
  for (let i = 0; i < w.length; i++) {
    if (mask[i] === 0) {
      w[i] = m[i] = v[i] = 0;
      continue;
    }
    const g = grad[i]! + o.weightDecay * w[i]!;
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g * g;
    const mHat = m[i]! / (1 - o.beta1 ** t), vHat = v[i]! / (1 - o.beta2 ** t);
    w[i] = w[i]! - (lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
}
