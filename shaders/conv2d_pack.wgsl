// The weights repacked for the forward and input-gradient kernels (conv2d_segments.wgsl): blocks
// of 8 channels per tap as two aligned vec4s, the `packed` layout described there. One invocation
// per vec4.
// #include "conv2d_common.wgsl"

@group(0) @binding(0) var<storage, read> weight: array<f32>; // [Cout, Cin, kh, kw]
@group(0) @binding(1) var<storage, read_write> packed: array<f32>;

// Writes vec4 i of the packed weights: blocks of output channels for the forward kernel
// (blocks_of_cout), of input channels for the input gradient.
fn pack(i: u32, blocks_of_cout: bool) {
  let kk = KH * KW;
  let reduced = select(p.cout, p.cin, blocks_of_cout);
  let width = select(p.cin, p.cout, blocks_of_cout);
  let total = ((width + CB - 1u) / CB) * reduced * kk * 2u;
  if (i >= total) { return; }
  let t = (i / 2u) % kk;
  let r = (i / (2u * kk)) % reduced;
  let b = vec4u((i / (2u * kk * reduced)) * CB + (i & 1u) * 4u) + vec4u(0u, 1u, 2u, 3u);
  let bc = min(b, vec4u(width - 1u));
  var idx: vec4u;
  if (blocks_of_cout) { idx = (bc * p.cin + r) * kk + t; } else { idx = (r * p.cin + bc) * kk + t; }
  // Channels past the end of the last block get weight 0 (their outputs are never stored).
  packed[4u * i] = select(0.0, weight[idx.x], b.x < width);
  packed[4u * i + 1u] = select(0.0, weight[idx.y], b.y < width);
  packed[4u * i + 2u] = select(0.0, weight[idx.z], b.z < width);
  packed[4u * i + 3u] = select(0.0, weight[idx.w], b.w < width);
}

// For conv2d_forward: blocks of 8 output channels.
@compute @workgroup_size(WG)
fn conv2d_pack_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lane: u32) {
  pack(block_index(wid, nwg) * WG + lane, true);
}

// For conv2d_backward_input: blocks of 8 input channels.
@compute @workgroup_size(WG)
fn conv2d_pack_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                              @builtin(local_invocation_index) lane: u32) {
  pack(block_index(wid, nwg) * WG + lane, false);
}
