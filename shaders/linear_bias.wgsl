// The bias gradient of a linear layer: db[o] = Σ_r g[r, o] over the rows r of its [M = batch,
// N = out] gradient, summed in increasing r by one invocation per output feature (the 1-D grid
// may be folded into y). Two entry points:
//   linear_backward_bias        g = dy;
//   linear_relu_backward_bias   the layer is followed by a ReLU (fused forward: linear_forward
//     with RELU), whose backward is done here too: g = dz = dy where y > 0, else 0 (y is the
//     ReLU's output: > 0 exactly where its input is), written out for the layer's weight and
//     input gradients. Its db is bitwise what relu_backward followed by linear_backward_bias gives.

struct Params { M: u32, N: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
// linear_relu_backward_bias only:
@group(0) @binding(3) var<storage, read> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> dz: array<f32>;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn linear_backward_bias(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.N) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.M; r++) { s += dy[r * p.N + o]; }
  db[o] = s;
}

@compute @workgroup_size(WG)
fn linear_relu_backward_bias(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.N) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.M; r++) {
    let i = r * p.N + o;
    let g = select(0.0, dy[i], y[i] > 0.0);
    dz[i] = g;
    s += g;
  }
  db[o] = s;
}
