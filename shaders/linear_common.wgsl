// The part of the three GEMM bodies (linear.wgsl: registers and 64×64 tiles; linear_large.wgsl:
// 128×128 tiles; linear_subgroups.wgsl: subgroup shuffles), picked by src/kernels/linear.ts:
//   C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (then max(·, 0) when RELU),
// where op() optionally transposes. They share the bindings (so the host binds every body the
// same way) and the epilogue, and each has the same entry points (matmul_forward, linear_forward,
// linear_backward_input, linear_backward_weight, each passing its operand layouts as literal
// flags). The bias gradient is linear_bias.wgsl.

struct Params { M: u32, N: u32, K: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
// The same buffers as a and b seen as vec4s, for vector loads (bound to a 16-byte dummy when that
// operand is read as scalars).
@group(0) @binding(5) var<storage, read> a4: array<vec4f>;
@group(0) @binding(6) var<storage, read> b4: array<vec4f>;

// Load op(A) / op(B) four floats at a time along their contiguous dimension. The host sets these
// only when that dimension is a multiple of 4, so every vec4 is aligned.
override A_VEC: bool = false;
override B_VEC: bool = false;
override HAS_BIAS: bool = false;
// y = max(x·Wᵀ + b, 0): a linear layer followed by a ReLU in one pass.
override RELU: bool = false;

// Writes the four columns n..n+3 of row m that exist: the epilogue (bias, ReLU) of every body.
fn store4(m: u32, n: u32, v: vec4f, hasBias: bool) {
  if (m >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    let col = n + j;
    if (col < p.N) {
      var x = v[j];
      if (hasBias) { x += bias[col]; }
      if (RELU) { x = max(x, 0.0); }
      c[m * p.N + col] = x;
    }
  }
}
