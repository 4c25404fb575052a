// The backward of a ReLU that follows a linear layer (fused forward: linear_forward with RELU),
// together with that layer's bias gradient, in one dispatch:
//   dz = dy where y > 0, else 0   (y is the ReLU's output: > 0 exactly where its input is)
//   db[o] = Σ_r dz[r, o], summed over r in increasing order.
// One invocation per output feature walks its column of the [M = batch, N = out] matrices, so
// it writes every dz of that column and sums it in the order linear_backward_bias uses: the
// result is bitwise what relu_backward followed by linear_backward_bias gives.

struct Params { M: u32, N: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dz: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64;

// The 1-D grid may be folded into y.
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
