// conv2d bias gradient, first pass: partials[n, co] = Σ_{oy, ox} dy[n, co, oy, ox], one
// invocation per (n, co), in pixel order; conv2d_split_sum then adds the N partials of each
// channel in image order.
// #include "conv2d_common.wgsl"

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>; // [N, Cout]

@compute @workgroup_size(WG)
fn conv2d_backward_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) lane: u32) {
  let i = block_index(wid, nwg) * WG + lane;
  if (i >= p.count) { return; }
  let plane = p.ho * p.wo;
  var sum = 0.0;
  for (var j = 0u; j < plane; j++) { sum += dy[i * plane + j]; }
  partials[i] = sum;
}
