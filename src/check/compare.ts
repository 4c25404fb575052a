// The one checker every kernel test uses: GPU float32 output against a float64 reference,
// element-wise |got - ref| <= atol + rtol·|ref|, reporting the first mismatches by index.

export interface Tolerance { atol: number; rtol: number }

export interface Comparison {
  name: string;
  ok: boolean;
  n: number;
  maxAbsErr: number;
  tolerance: Tolerance;
  /** First few failing elements: index, GPU value, reference value. */
  mismatches: { index: number; got: number; ref: number }[];
}

/**
 * Tolerance for outputs that sum `k` products of O(`scale`) terms in float32: rounding error
 * grows like sqrt(k) for random-sign terms; the constant leaves room for different but valid
 * summation orders between adapters.
 */
export function reductionTolerance(k: number, scale = 1): Tolerance {
  return { atol: 4e-6 * Math.sqrt(Math.max(k, 1)) * scale + 1e-6, rtol: 2e-5 };
}

export const EXACT: Tolerance = { atol: 0, rtol: 0 };

export function compare(name: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): Comparison {
  const mismatches: Comparison['mismatches'] = [];
  let maxAbsErr = 0;
  let bad = got.length !== ref.length;
  for (let i = 0; i < Math.min(got.length, ref.length); i++) {
    const g = got[i]!, r = ref[i]!;
    const err = Math.abs(g - r);
    const sameNonFinite = !Number.isFinite(r) && Object.is(g, r);
    if (!sameNonFinite && !(err <= tol.atol + tol.rtol * Math.abs(r))) {
      bad = true;
      if (mismatches.length < 5) mismatches.push({ index: i, got: g, ref: r });
    }
    if (Number.isFinite(err)) maxAbsErr = Math.max(maxAbsErr, err);
    else if (!sameNonFinite) maxAbsErr = Infinity;
  }
  if (got.length !== ref.length) mismatches.unshift({ index: -1, got: got.length, ref: ref.length });
  return { name, ok: !bad, n: ref.length, maxAbsErr, tolerance: tol, mismatches };
}

export function describe(c: Comparison): string {
  const head = `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: n=${c.n} max|err|=${c.maxAbsErr.toExponential(2)} (atol ${c.tolerance.atol.toExponential(1)}, rtol ${c.tolerance.rtol.toExponential(1)})`;
  if (c.ok) return head;
  const rows = c.mismatches.map((m) => m.index < 0 ? `  length: got ${m.got}, expected ${m.ref}` : `  [${m.index}] got ${m.got} expected ${m.ref}`);
  return [head, ...rows].join('\n');
}
