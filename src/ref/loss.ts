// float64 reference for softmax cross-entropy, written from the definitions:
//   p_ij = exp(x_ij) / Σ_k exp(x_ik),  loss_i = −log p_i,label_i,  L = (1/N) Σ_i loss_i,
//   ∂L/∂x_ij = (p_ij − [j = label_i]) / N,  correct_i = [first argmax_j x_ij = label_i].
// The invalid-input contract matches shaders/loss.wgsl: a non-finite logit makes the row's loss
// and gradient NaN; a label ≥ C makes the loss NaN, the gradient p/N, and never counts as correct.

export interface CrossEntropyResult {
  /** Per-sample losses. */
  losses: Float64Array;
  lossSum: number;
  meanLoss: number;
  correct: number;
  /** ∂ meanLoss / ∂ logits. */
  dlogits: Float64Array;
}

export function softmaxCrossEntropy(logits: Float64Array, labels: ArrayLike<number>, classes: number): CrossEntropyResult {
  const n = labels.length;
  if (logits.length !== n * classes) throw new Error(`ref softmaxCrossEntropy: ${logits.length} logits for ${n}×${classes}`);
  const losses = new Float64Array(n);
  const dlogits = new Float64Array(n * classes);
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    const label = labels[i]!;
    if (!row.every(Number.isFinite)) {
      losses[i] = NaN;
      dlogits.fill(NaN, i * classes, (i + 1) * classes);
      continue;
    }
    // Shifting by the max changes nothing mathematically and keeps exp() finite for large logits.
    const m = Math.max(...row);
    const z = row.reduce((s, x) => s + Math.exp(x - m), 0);
    for (let j = 0; j < classes; j++) dlogits[i * classes + j] = (Math.exp(row[j]! - m) / z - (j === label ? 1 : 0)) / n;
    losses[i] = label < classes ? m + Math.log(z) - row[label]! : NaN;
    if (label < classes && row.indexOf(m) === label) correct++;
  }
  const lossSum = losses.reduce((s, l) => s + l, 0);
  return { losses, lossSum, meanLoss: lossSum / n, correct, dlogits };
}
