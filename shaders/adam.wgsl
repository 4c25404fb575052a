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

@compute @workgroup_size(WG)
fn adam_masked(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  if (mask[i] == 0.0) {
    w[i] = 0.0;
    exp_avg[i] = 0.0;
    exp_avg_sq[i] = 0.0;
    return;
  }
  let wi = w[i];
  let g = grad[i] + p.weight_decay * wi;
  let m = exp_avg[i] + (1.0 - p.beta1) * (g - exp_avg[i]);
  let v = p.beta2 * exp_avg_sq[i] + (1.0 - p.beta2) * g * g;
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
  w[i] = wi - p.step_size * m / (sqrt(v) / p.bc2_sqrt + p.eps);
}
