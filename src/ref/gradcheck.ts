// Finite-difference check of a backward reference, in float64. For a forward map y = f(x) and
// an upstream gradient dy, the scalar L(x) = Σ dy ⊙ f(x) has dL/dx = backward(dy); we compare
// that analytic gradient with central differences (L(x+εe_i) − L(x−εe_i)) / 2ε.

export interface GradCheckResult {
  name: string;
  ok: boolean;
  probes: number;
  maxRelErr: number;
  worst: { index: number; analytic: number; numeric: number } | null;
}

export interface GradCheckOptions {
  eps?: number;
  /** Relative error bound on |analytic − numeric| / max(1, |analytic|, |numeric|). */
  tol?: number;
  /** Probe at most this many indices (spread evenly, always including the first and last). */
  maxProbes?: number;
}

export function dotLoss(dy: Float64Array, y: Float64Array): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += dy[i]! * y[i]!;
  return s;
}

/**
 * Checks `analytic` = dL/dx for the scalar function `loss` at `x`. `x` is modified while probing
 * and restored afterwards.
 */
export function gradCheck(
  name: string, loss: (x: Float64Array) => number, x: Float64Array, analytic: Float64Array, opts: GradCheckOptions = {},
): GradCheckResult {
  const eps = opts.eps ?? 1e-6, tol = opts.tol ?? 1e-6, maxProbes = opts.maxProbes ?? 64;
  if (analytic.length !== x.length) throw new Error(`${name}: gradient has ${analytic.length} entries, input has ${x.length}`);
  const n = x.length;
  const idx = n <= maxProbes ? [...Array(n).keys()] : [...Array(maxProbes).keys()].map((k) => Math.round((k * (n - 1)) / (maxProbes - 1)));
  let maxRelErr = 0;
  let worst: GradCheckResult['worst'] = null;
  for (const i of idx) {
    const orig = x[i]!;
    x[i] = orig + eps; const up = loss(x);
    x[i] = orig - eps; const down = loss(x);
    x[i] = orig;
    const numeric = (up - down) / (2 * eps);
    const a = analytic[i]!;
    const rel = Math.abs(a - numeric) / Math.max(1, Math.abs(a), Math.abs(numeric));
    if (!(rel <= maxRelErr)) { maxRelErr = rel; worst = { index: i, analytic: a, numeric }; }
  }
  return { name, ok: maxRelErr <= tol, probes: idx.length, maxRelErr, worst };
}

export function describeGradCheck(r: GradCheckResult): string {
  const w = r.worst ? ` worst [${r.worst.index}] analytic ${r.worst.analytic} numeric ${r.worst.numeric}` : '';
  return `${r.ok ? 'ok' : 'FAIL'} ${r.name}: ${r.probes} probes, max rel err ${r.maxRelErr.toExponential(2)}${w}`;
}

/** Random float64 values in [-scale, scale) from a seeded stream (for gradient checks). */
export function randomF64(rng: { uniform(): number }, n: number, scale = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.uniform() * 2 - 1) * scale;
  return a;
}
