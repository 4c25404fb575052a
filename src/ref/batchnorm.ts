// float64 references for batch norm on a tensor viewed as [N, C, S], written from the definitions
// (PyTorch BatchNorm1d/2d): per channel c, over the M = N·S values x[n, c, s],
//   mean = Σx / M,  var = Σ(x − mean)² / M,  x̂ = (x − mean) / sqrt(var + eps),  y = γ·x̂ + β.

export interface Dims { n: number; c: number; s: number }

/** The M values of channel c, in (n, s) order. */
function channelValues(a: Float64Array, d: Dims, c: number): Float64Array {
  const out = new Float64Array(d.n * d.s);
  for (let n = 0; n < d.n; n++) for (let s = 0; s < d.s; s++) out[n * d.s + s] = a[(n * d.c + c) * d.s + s]!;
  return out;
}

function mean(v: Float64Array): number {
  let sum = 0;
  for (const x of v) sum += x;
  return sum / v.length;
}

function sumSquaredDeviations(v: Float64Array, mu: number): number {
  let sum = 0;
  for (const x of v) sum += (x - mu) ** 2;
  return sum;
}

/** Applies f(value, channel) to every element. */
function mapChannels(x: Float64Array, d: Dims, f: (v: number, c: number, i: number) => number): Float64Array {
  const out = new Float64Array(x.length);
  for (let n = 0; n < d.n; n++) {
    for (let c = 0; c < d.c; c++) {
      for (let s = 0; s < d.s; s++) {
        const i = (n * d.c + c) * d.s + s;
        out[i] = f(x[i]!, c, i);
      }
    }
  }
  return out;
}

export interface TrainForward {
  y: Float64Array;
  mean: Float64Array;
  invstd: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

export function forwardTrain(
  x: Float64Array, gamma: Float64Array, beta: Float64Array, runningMean: Float64Array, runningVar: Float64Array,
  d: Dims, eps = 1e-5, momentum = 0.1,
): TrainForward {
  const m = d.n * d.s;
  const mu = new Float64Array(d.c), invstd = new Float64Array(d.c);
  const rm = new Float64Array(d.c), rv = new Float64Array(d.c);
  for (let c = 0; c < d.c; c++) {
    const v = channelValues(x, d, c);
    mu[c] = mean(v);
    const ssd = sumSquaredDeviations(v, mu[c]!);
    invstd[c] = 1 / Math.sqrt(ssd / m + eps);
    rm[c] = (1 - momentum) * runningMean[c]! + momentum * mu[c]!;
    rv[c] = (1 - momentum) * runningVar[c]! + momentum * (ssd / (m - 1));
  }
  const y = mapChannels(x, d, (v, c) => gamma[c]! * (v - mu[c]!) * invstd[c]! + beta[c]!);
  return { y, mean: mu, invstd, runningMean: rm, runningVar: rv };
}

export function forwardEval(
  x: Float64Array, gamma: Float64Array, beta: Float64Array, runningMean: Float64Array, runningVar: Float64Array,
  d: Dims, eps = 1e-5,
): Float64Array {
  return mapChannels(x, d, (v, c) => gamma[c]! * (v - runningMean[c]!) / Math.sqrt(runningVar[c]! + eps) + beta[c]!);
}

export interface Backward { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array }

/**
 * Gradients of L = Σ dy·y through the training-mode forward (the batch statistics depend on x).
 * With x̂ the normalised input and M values per channel:
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ·invstd·(dy − dβ/M − x̂·dγ/M).
 */
export function backward(x: Float64Array, gamma: Float64Array, dy: Float64Array, d: Dims, eps = 1e-5): Backward {
  const m = d.n * d.s;
  const mu = new Float64Array(d.c), invstd = new Float64Array(d.c);
  for (let c = 0; c < d.c; c++) {
    const v = channelValues(x, d, c);
    mu[c] = mean(v);
    invstd[c] = 1 / Math.sqrt(sumSquaredDeviations(v, mu[c]!) / m + eps);
  }
  const xhat = mapChannels(x, d, (v, c) => (v - mu[c]!) * invstd[c]!);
  const dgamma = new Float64Array(d.c), dbeta = new Float64Array(d.c);
  mapChannels(dy, d, (g, c, i) => {
    dbeta[c] += g;
    dgamma[c] += g * xhat[i]!;
    return 0;
  });
  const dx = mapChannels(dy, d, (g, c, i) => gamma[c]! * invstd[c]! * (g - dbeta[c]! / m - xhat[i]! * dgamma[c]! / m));
  return { dx, dgamma, dbeta };
}
