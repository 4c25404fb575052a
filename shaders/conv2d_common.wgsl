// The part of every conv2d kernel file: 2-D convolution with PyTorch nn.Conv2d conventions (NCHW
// activations, weight [Cout, Cin, kh, kw], zero padding `pad`, stride `stride`,
// Ho = floor((H + 2·pad − kh) / stride) + 1), one uniform layout, and the helpers several
// directions use. The kernels, one file per direction:
//   conv2d_forward.wgsl          y = conv(x, W) + bias
//   conv2d_backward_input.wgsl   dx from dy and W
//   conv2d_backward_weight.wgsl  dW from x and dy (partial sums per chunk of images or pixels)
//   conv2d_backward_bias.wgsl    db from dy (partial sums per image)
// and conv2d_pack.wgsl (the weights repacked for the first two, many tensors per dispatch) and conv2d_split_sum.wgsl (the
// second pass of every split reduction). src/kernels/conv2d.ts dispatches them.
// Deterministic: no atomics; every output element is summed in a fixed order by one invocation,
// and long reductions are split into fixed chunks whose partial sums conv2d_split_sum adds in
// chunk order.

override WG: u32 = 64;
// The kernel size and stride as pipeline constants, so the tap loops of the kernels that take
// them unroll.
override KH: u32 = 3;
override KW: u32 = 3;
override S: u32 = 1;

// Every field is a u32 (see src/kernels/conv2d.ts for the single writer of this layout).
struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, kh: u32,
  kw: u32, stride: u32, pad: u32,
  // Weight gradient: images (or pixels) per chunk. Split sum: number of partials to add.
  // Forward / input gradient: reduced channels (Cin / Cout) per split (all of them: one split).
  // Weight repack: rows of its segment table.
  chunk: u32,
  // Split sum / bias gradient: number of outputs. Forward / input gradient: the elements of one
  // split's output (split z writes its partial output at z·count ..). Weight repack: vec4s written.
  count: u32,
}

@group(0) @binding(2) var<uniform> p: Params;

// Channels per workgroup (the register blocks' channel width; two vec4 accumulators).
const CB: u32 = 8u;

// Flat block index of a workgroup grid folded over x and y (see grid in src/kernels/conv2d.ts).
fn block_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// Offsets of 8 consecutive channels starting at c0, each clamped to the last channel so a partial
// block at the end still loads in range (its extra channels are never stored).
fn channel_offsets(c0: u32, last: u32, stride: u32) -> array<vec4u, 2> {
  let c = min(vec4u(c0) + vec4u(0u, 1u, 2u, 3u), vec4u(last));
  let d = min(vec4u(c0) + vec4u(4u, 5u, 6u, 7u), vec4u(last));
  return array<vec4u, 2>(c * stride, d * stride);
}
