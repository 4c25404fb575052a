// IEEE binary16 values computed in f32 and stored two to a u32 (a part: shaders that read or write
// f16 storage include it). The conversion is written out with integer operations instead of
// WGSL's f16() or pack2x16float, because WGSL leaves both underspecified: a value between two f16
// neighbours may round to either, and pack2x16float of a value outside the finite f16 range is an
// indeterminate u32. Mixed precision needs both defined: round to nearest, ties to even (what
// PyTorch's .half() does), overflow to ±inf (what the loss scaler detects), subnormals kept.
// The same bits on every adapter, with or without `shader-f16`; src/ref/f16.ts is the reference.

// binary16 bits of x, rounded to nearest even: |x| ≥ 65520 gives ±inf, |x| < 2^-24 subnormals
// and zeros, NaN a quiet NaN (sign kept).
fn f16_bits(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let a = b & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  // 65520 = 65504 (the largest f16) + half its spacing: ties to even round it up, to inf.
  if (a >= 0x477ff000u) { return sign | 0x7c00u; }
  if (a >= 0x38800000u) {
    // Normal in f16 (|x| ≥ 2^-14): rebias the exponent (127 → 15) and round 13 mantissa bits off.
    let m = a - 0x38000000u;
    return sign | ((m + 0xfffu + ((m >> 13u) & 1u)) >> 13u);
  }
  // Below half the smallest subnormal (2^-25, a tie, rounds to the even 0): zero.
  if (a < 0x33000000u) { return sign; }
  // Subnormal in f16: the value in units of 2^-24 is the 24-bit significand shifted right by
  // 126 − exponent (14 to 24 places), rounded to nearest even. 0x400 (2^-14) is the smallest normal.
  let shift = 126u - (a >> 23u);
  let sig = (a & 0x7fffffu) | 0x800000u;
  let q = sig >> shift;
  let rest = sig & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  return sign | (q + select(0u, 1u, rest > half || (rest == half && (q & 1u) == 1u)));
}

// The f32 value of binary16 bits h (exact: every f16 value is an f32 value).
fn f16_value(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  // Zero or subnormal: m · 2^-24, an exact product whose result is a normal f32.
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(f32(m) * 5.9604644775390625e-8)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}

// x rounded to the nearest f16 value, as an f32.
fn f16_round(x: f32) -> f32 { return f16_value(f16_bits(x)); }

// Two values as one u32 word: the first in the low 16 bits (pack2x16float's order).
fn half2_pack(a: f32, b: f32) -> u32 { return f16_bits(a) | (f16_bits(b) << 16u); }

fn half2_unpack(w: u32) -> vec2f { return vec2f(f16_value(w & 0xffffu), f16_value(w >> 16u)); }
