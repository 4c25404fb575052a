// float64 reference for one step of masked SGD, from PyTorch's torch.optim.SGD documentation
// (dampening 0; the momentum buffer starts at zero, so the first step's buf = g as in PyTorch):
//   g = ∇ + λ·w;  b = μ·b + g;  step = nesterov ? g + μ·b : b;  w = w − lr·step.
// Then pruning: where mask = 0, w and b are 0.
import type { SgdOptions } from '../kernels/sgd.ts';

/** Updates `w` and `buf` in place. */
export function sgdStep(w: Float64Array, grad: Float64Array, buf: Float64Array, mask: Float64Array, o: SgdOptions): void {
  for (let i = 0; i < w.length; i++) {
    if (mask[i] === 0) {
      w[i] = 0;
      buf[i] = 0;
      continue;
    }
    const g = grad[i]! + o.weightDecay * w[i]!;
    buf[i] = o.momentum * buf[i]! + g;
    w[i] = w[i]! - o.lr * (o.nesterov ? g + o.momentum * buf[i]! : buf[i]!);
  }
}
