// Stores of a block of 8 channels, for the kernels that compute such blocks (conv2d_segments.wgsl,
// conv2d_backward_weight.wgsl). They write through the including file's
//   fn store_out(i: u32, v: f32)
// (its output binding, named for what it is there: y, dx, or partial sums).
// #include "conv2d_common.wgsl"

// Stores the 8 channels of one pixel: out[base + (c0 + c)·plane] for c0 + c < limit.
fn store8(ok: bool, base: u32, plane: u32, c0: u32, limit: u32, lo: vec4f, hi: vec4f) {
  if (!ok) { return; }
  for (var c = 0u; c < CB; c++) {
    if (c0 + c >= limit) { return; }
    store_out(base + (c0 + c) * plane, select(hi[c % 4u], lo[c % 4u], c < 4u));
  }
}
