// The part both batch-norm kernel files share: batchnorm.wgsl reduces each channel in one
// workgroup (the 'cpu' set), batchnorm_split.wgsl splits each channel's samples into chunks
// reduced by many workgroups and combined in a fixed order (the 'gpu' set); src/kernels/batchnorm.ts
// picks them. Both are deterministic: fixed strided subsets per invocation, a fixed-shape tree in
// the workgroup, a fixed combine order; no float atomics.
//
// Batch normalisation over a tensor viewed as [N, C, S]: S = H·W for BatchNorm2d (NCHW), S = 1
// for BatchNorm1d ([N, C]). Statistics are per channel over the M = N·S elements of that channel.
// Invocations are laid out as a WX × WY block, WX along S and WY along the other axis (samples in
// the reductions, channels in the elementwise passes): WX = S rounded up to a power of two (capped
// at the workgroup size) keeps every lane busy whether S is 1024 or 1. The host picks WX and WY.

override WX: u32 = 256;
override WY: u32 = 1;
override WG: u32 = WX * WY; // derived, never set by the host
// A ReLU after the batch norm, applied in its forward pass and folded into its backward (the
// 'gpu' kernel set's fusion, see src/nn/compile.ts).
override RELU: bool = false;

struct Params {
  n: u32, c: u32, s: u32, eps: f32, momentum: f32,
  // batchnorm_split.wgsl: samples per chunk and the number of chunks (partials per channel), and
  // where batchnorm_backward_combine's coefficients start in its scratch binding.
  chunk: u32, chunks: u32, coef_at: u32,
}

// The uniform is binding 0 so each entry point can number its own storage buffers 1..k (the
// entry points take different buffers; each is bound through a layout of exactly its bindings).
@group(0) @binding(0) var<uniform> p: Params;

var<workgroup> red: array<vec2f, WG>;

// Sums `v` over the workgroup in a fixed tree order; every invocation gets the total.
// Must be called from uniform control flow.
fn workgroup_sum(lid: u32, v: vec2f) -> vec2f {
  red[lid] = v;
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    workgroupBarrier();
    if (lid < stride) { red[lid] += red[lid + stride]; }
  }
  workgroupBarrier();
  let total = red[0];
  workgroupBarrier(); // red is reused by the next call
  return total;
}

// ---- forward statistics -----------------------------------------------------------------------

@group(0) @binding(1) var<storage, read> sx: array<f32>;

struct Moments { mean: f32, dev: vec2f }

// The mean of channel c over samples [n0, n1) (`count` values) and the sums of the values'
// deviations from it, (Σd, Σd²): two passes, which stay accurate when |mean| >> std, unlike
// E[x²] − E[x]². Called by the whole workgroup (it holds barriers).
fn moments(lid: u32, l: vec3u, c: u32, n0: u32, n1: u32, count: f32) -> Moments {
  var sum = 0.0;
  for (var n = n0 + l.y; n < n1; n += WY) {
    let base = (n * p.c + c) * p.s;
    for (var s = l.x; s < p.s; s += WX) { sum += sx[base + s]; }
  }
  let mean = workgroup_sum(lid, vec2f(sum, 0.0)).x / count;
  var acc = vec2f(0.0);
  for (var n = n0 + l.y; n < n1; n += WY) {
    let base = (n * p.c + c) * p.s;
    for (var s = l.x; s < p.s; s += WX) {
      let d = sx[base + s] - mean;
      acc += vec2f(d, d * d);
    }
  }
  return Moments(mean, workgroup_sum(lid, acc));
}

@group(0) @binding(2) var<storage, read_write> save_mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> save_invstd: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;

// 1/sqrt(var + eps): one expression wherever it is computed, so every pass gets the same bits.
fn inv_std(var_biased: f32) -> f32 { return 1.0 / sqrt(var_biased + p.eps); }

// Channel c's statistics from the mean and biased variance of its m values: the mean and
// 1/sqrt(var + eps) for the normalisation and the backward, and the momentum update of the
// running statistics (running_var takes the unbiased variance, as PyTorch).
fn store_stats(c: u32, mean: f32, var_biased: f32, m: f32) {
  save_mean[c] = mean;
  save_invstd[c] = inv_std(var_biased);
  let k = p.momentum;
  running_mean[c] = (1.0 - k) * running_mean[c] + k * mean;
  running_var[c] = (1.0 - k) * running_var[c] + k * (var_biased * m / (m - 1.0));
}
