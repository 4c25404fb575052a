// The weights repacked for the forward and input-gradient kernels (conv2d_segments.wgsl): blocks
// of 8 channels per tap as two aligned vec4s, the `packed` layout described there. One dispatch
// repacks any number of weight tensors ("segments": a whole model's convolutions once per step,
// src/nn/compile-builder.ts), each described by a row of `table`; a dispatch per tensor cost a
// model 41 small dispatches per ResNet-20 step. One invocation per vec4 of packed output.
// #include "conv2d_common.wgsl"

@group(0) @binding(0) var<storage, read> weight: array<f32>; // each segment's [Cout, Cin, kh, kw] at its `src`
@group(0) @binding(1) var<storage, read_write> packed: array<f32>;
// Rows of SEG_FIELDS u32 (src/kernels/conv2d-pack.ts writes them): first vec4 of the segment in
// the dispatch's flat index space (rows in increasing order, the first 0), element offsets of its
// weights in `weight` and of its packed output in `packed`, Cout, Cin, taps (kh·kw), and 1 for
// blocks of output channels (forward) or 0 for blocks of input channels (input gradient).
@group(0) @binding(3) var<storage, read> table: array<u32>;
// p.chunk: rows in the table; p.count: vec4s over all segments.

const SEG_FIELDS: u32 = 8u;

fn field(s: u32, f: u32) -> u32 { return table[s * SEG_FIELDS + f]; }

// The row whose range holds flat vec4 index i: the last row starting at or before i.
fn segment_of(i: u32) -> u32 {
  var lo = 0u;
  var hi = p.chunk;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (field(mid, 0u) <= i) { lo = mid; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn conv2d_pack_segments(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) lane: u32) {
  let g = block_index(wid, nwg) * WG + lane;
  if (g >= p.count) { return; }
  let s = segment_of(g);
  let i = g - field(s, 0u);
  let src = field(s, 1u);
  let dst = field(s, 2u);
  let cout = field(s, 3u);
  let cin = field(s, 4u);
  let kk = field(s, 5u);
  let blocks_of_cout = field(s, 6u) == 1u;
  // Vec4 i of this segment: tap t, reduced channel r, channels b of the 8-channel block.
  let reduced = select(cout, cin, blocks_of_cout);
  let width = select(cin, cout, blocks_of_cout);
  let t = (i / 2u) % kk;
  let r = (i / (2u * kk)) % reduced;
  let b = vec4u((i / (2u * kk * reduced)) * CB + (i & 1u) * 4u) + vec4u(0u, 1u, 2u, 3u);
  let bc = min(b, vec4u(width - 1u));
  var idx: vec4u;
  if (blocks_of_cout) { idx = (bc * cin + r) * kk + t; } else { idx = (r * cin + bc) * kk + t; }
  idx += vec4u(src);
  // Channels past the end of the last block get weight 0 (their outputs are never stored).
  let o = dst + 4u * i;
  packed[o] = select(0.0, weight[idx.x], b.x < width);
  packed[o + 1u] = select(0.0, weight[idx.y], b.y < width);
  packed[o + 2u] = select(0.0, weight[idx.z], b.z < width);
  packed[o + 3u] = select(0.0, weight[idx.w], b.w < width);
}
