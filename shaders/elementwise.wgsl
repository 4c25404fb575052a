// Elementwise kernels: ReLU forward/backward and the residual add (also used to sum the two
// gradient paths that meet at a residual fork). One invocation per element; the 1-D index is
// folded over a 2-D grid so tensors larger than 65,535 workgroups still fit.

override WG: u32 = 256;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// out = max(a, 0); b is unused (bound to keep one layout for the family).
@compute @workgroup_size(WG)
fn relu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = max(a[i], 0.0);
}

// out = b where a > 0 else 0, with a = the forward input x and b = dL/dy.
// The subgradient at x == 0 is 0, as in PyTorch.
@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = select(0.0, b[i], a[i] > 0.0);
}

// out = a + b.
@compute @workgroup_size(WG)
fn add_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = a[i] + b[i];
}

// out = max(a + b, 0): a residual sum followed by a ReLU in one pass (the 'gpu' kernel set's
// fusion; relu_backward then reads this output, which is > 0 exactly where the sum is).
@compute @workgroup_size(WG)
fn add_relu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = max(a[i] + b[i], 0.0);
}

// out[i] = a[index_i] with the indices stored as u32 bits in b (telemetry: trajectories of a few
// chosen weights, copied out of the parameter arena without reading the whole arena back).
@compute @workgroup_size(WG)
fn gather_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  out[i] = a[bitcast<u32>(b[i])];
}
