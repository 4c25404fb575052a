// IEEE binary16 written from the definition, for the mixed-precision references and tests: round
// to nearest, ties to even; |x| ≥ 65520 (the largest f16, 65504, plus half its spacing) overflows
// to ±inf; below 2^-14 the spacing is 2^-24 (subnormals); NaN stays NaN. shaders/f16.wgsl does the
// same with integer operations on f32 bits; for an f32 input both give the same bits (one rounding).

/** Largest finite binary16 value. */
export const F16_MAX = 65504;

/** Rounds to the nearest integer, ties to the even one. */
function roundEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

/** x rounded to the nearest binary16 value (as a number). */
export function roundHalf(x: number): number {
  if (Number.isNaN(x) || x === 0 || !Number.isFinite(x)) return x;
  const a = Math.abs(x);
  if (a >= 65520) return x > 0 ? Infinity : -Infinity;
  // Spacing of f16 values at |x|: 2^(e−10) for |x| in [2^e, 2^(e+1)), e ≥ −14; 2^-24 below 2^-14.
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 rounding at powers of two
  else if (2 ** (e + 1) <= a) e++;
  const spacing = 2 ** (Math.max(e, -14) - 10);
  const r = roundEven(a / spacing) * spacing; // a/spacing is exact (a power-of-two division)
  return x < 0 ? -r : r === 0 ? 0 : r;
}

/** binary16 bits of x (after rounding), as pack2x16float would store a value in range. */
export function halfBits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00 | (Object.is(Math.sign(x), -0) ? 0x8000 : 0);
  const r = roundHalf(x);
  const sign = r < 0 || Object.is(r, -0) ? 0x8000 : 0;
  const a = Math.abs(r);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  const exp = 2 ** e > a ? e - 1 : e;
  return sign | ((exp + 15) << 10) | (a / 2 ** exp * 1024 - 1024);
}

/** The value of binary16 bits h. */
export function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 31) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** Every element rounded to binary16. */
export function roundHalfArray(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a as ArrayLike<number>, roundHalf);
}

/** Values stored as packed pairs (word j: element 2j in the low 16 bits, 2j + 1 in the high; an odd last element paired with +0). */
export function packHalves(a: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(a.length / 2));
  for (let j = 0; j < out.length; j++) {
    const hi = 2 * j + 1 < a.length ? halfBits(a[2 * j + 1]!) : 0;
    out[j] = (halfBits(a[2 * j]!) | (hi << 16)) >>> 0;
  }
  return out;
}
