// Masked SGD with momentum over a whole parameter arena in one dispatch (PyTorch semantics,
// dampening 0):  g = grad + wd·w;  buf = μ·buf + g;  step = nesterov ? g + μ·buf : buf;
// w = w − lr·step.  Pruned weights (mask == 0) and their momenta are written as exactly 0,
// not multiplied by the mask, so a NaN gradient cannot leak into a pruned weight via 0·NaN.
// The arena's alignment padding has mask 0, so it stays zero too.

override WG: u32 = 256;

// lr is rewritten every step with queue.writeBuffer (see src/kernels/sgd.ts); the rest is fixed.
struct Params { n: u32, lr: f32, momentum: f32, weight_decay: f32, nesterov: u32 }

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> buf: array<f32>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// One element's update; pruned weights and their momenta are written as exactly 0.
fn sgd_update(i: u32) {
  if (mask[i] == 0.0) {
    w[i] = 0.0;
    buf[i] = 0.0;
    return;
  }
  let wi = w[i];
  let g = grad[i] + p.weight_decay * wi;
  let b = p.momentum * buf[i] + g;
  buf[i] = b;
  let step = select(b, g + p.momentum * b, p.nesterov != 0u);
  w[i] = wi - p.lr * step;
}

@compute @workgroup_size(WG)
fn sgd_masked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  sgd_update(i);
}

// Mixed precision (shaders/amp.wgsl): the loss scaler's state says whether this step's gradients
// hold an inf or NaN; if so the step is skipped entirely — weights and momenta untouched, pruned
// weights included — as GradScaler skips optimizer.step().
@group(0) @binding(5) var<storage, read> scaler: array<f32>;

@compute @workgroup_size(WG)
fn sgd_masked_amp(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n || scaler[3] != 0.0) { return; }
  sgd_update(i);
}
