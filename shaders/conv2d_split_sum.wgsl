// The second pass of the conv2d reductions split into chunks (the weight and bias gradients, and
// the 'gpu' set's split forward and input gradient): result[i] = Σ_{z < chunk} partials[z·count + i],
// added in z order, so the result does not depend on how the first pass was scheduled.
// #include "conv2d_common.wgsl"

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> result: array<f32>;

@compute @workgroup_size(WG)
fn conv2d_split_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lane: u32) {
  let i = block_index(wid, nwg) * WG + lane;
  if (i >= p.count) { return; }
  var sum = 0.0;
  for (var z = 0u; z < p.chunk; z++) { sum += partials[z * p.count + i]; }
  result[i] = sum;
}
