// Masked Adam over a whole parameter arena in one dispatch (PyTorch's torch.optim.Adam, L2 weight
// decay added to the gradient — not AdamW — as OpenLTH uses it):
//   g = grad + wd·w;  m = m + (1−β1)·(g − m);  v = β2·v + (1−β2)·g²;
//   w = w − step_size · m / (√v / bc2_sqrt + ε),  step_size = lr / (1−β1^t),  bc2_sqrt = √(1−β2^t).
// The two bias-correction scalars depend on the step count t and the learning rate, so the host
// computes them in float64 and rewrites them every step (src/kernels/adam.ts), exactly where
// PyTorch computes them in Python floats. Pruned weights (mask == 0) and both moments are written
// as exactly 0 — not multiplied by the mask — so a NaN gradient cannot leak into them.

override WG: u32 = 256;

struct Params { n: u32, step_size: f32, bc2_sqrt: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32 }

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> exp_avg: array<f32>;
@group(0) @binding(3) var<storage, read_write> exp_avg_sq: array<f32>;
@group(0) @binding(4) var<storage, read> mask: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// One element's update (the constants passed in: each entry point has its own uniform).
fn adam_update(i: u32, step_size: f32, bc2_sqrt: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32) {
  if (mask[i] == 0.0) {
    w[i] = 0.0;
    exp_avg[i] = 0.0;
    exp_avg_sq[i] = 0.0;
    return;
  }
  let wi = w[i];
  let g = grad[i] + weight_decay * wi;
  let m = exp_avg[i] + (1.0 - beta1) * (g - exp_avg[i]);
  let v = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  w[i] = wi - step_size * m / (sqrt(v) / bc2_sqrt + eps);
}

@compute @workgroup_size(WG)
fn adam_masked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  adam_update(i, p.step_size, p.bc2_sqrt, p.beta1, p.beta2, p.eps, p.weight_decay);
}

// Mixed precision (shaders/amp.wgsl): a step whose gradients hold an inf or NaN is skipped entirely
// (GradScaler skips optimizer.step()), so the host cannot know t when it submits a step. The loss
// scaler's state counts the steps applied and keeps β1^t and β2^t as f32 products (amp_update, which
// runs first and has already counted this step); the bias corrections are computed here from them.
struct AmpParams { n: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32 }

@group(0) @binding(5) var<uniform> pa: AmpParams;
@group(0) @binding(6) var<storage, read> scaler: array<f32>;

@compute @workgroup_size(WG)
fn adam_masked_amp(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= pa.n || scaler[3] != 0.0) { return; }
  let step_size = pa.lr / (1.0 - scaler[5]);
  let bc2_sqrt = sqrt(1.0 - scaler[6]);
  adam_update(i, step_size, bc2_sqrt, pa.beta1, pa.beta2, pa.eps, pa.weight_decay);
}
