// Mixed precision (--apex-fp16, PyTorch AMP's numerics) around the f32 kernels: the passes that
// round tensors to f16 where autocast rounds them, store saved activations as packed f16 pairs,
// scale the loss gradient, unscale the weight gradients and check them for inf/NaN, and update the
// dynamic loss scale. Arithmetic stays f32; every rounding goes through f16.wgsl (bit-exact, the
// same on every adapter). src/kernels/amp.ts builds the dispatches; src/ref/amp.ts is the reference.
//
// The loss scaler's state, one small f32 buffer per network (src/train/amp.ts writes and reads it):
//   [0] scale S  [1] 1/S  [2] growth tracker (clean steps since the last change)  [3] found inf
//   in this step's gradients (0/1)  [4] optimiser steps applied  [5] β1^t  [6] β2^t (Adam's bias
//   corrections, t = steps applied: a skipped step does not advance t, as in PyTorch)
// S is a power of two (2^16 at the start, ×2 or ×0.5), so S·x and x/S are exact in f32.

// #include "f16.wgsl"

override WG: u32 = 256;

struct Params { n: u32 }

const SCALE = 0u;
const INV_SCALE = 1u;
const TRACKER = 2u;
const FOUND_INF = 3u;
const APPLIED = 4u;
const POW_BETA1 = 5u;
const POW_BETA2 = 6u;

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

// x = f16(x) in place: the output of an op autocast runs in f16, or a gradient it produces.
@compute @workgroup_size(WG)
fn amp_round(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  x[i] = f16_round(x[i]);
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> pc: Params;

// dst = f16(src): the step's f16 copy of the f32 master weights, which the conv and linear kernels read.
@compute @workgroup_size(WG)
fn amp_round_copy(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= pc.n) { return; }
  dst[i] = f16_round(src[i]);
}

@group(0) @binding(0) var<storage, read_write> act: array<f32>;
@group(0) @binding(1) var<storage, read_write> packed: array<u32>;
@group(0) @binding(2) var<uniform> pp: Params;

// An activation the backward pass reads: rounded to f16 in place (the forward goes on reading the
// f32 buffer) and saved as packed pairs, word j holding elements 2j (low half) and 2j + 1; an odd
// last element is paired with +0. One invocation per word: words are written whole.
@compute @workgroup_size(WG)
fn amp_pack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat(gid, nwg);
  let i = 2u * j;
  if (i >= pp.n) { return; }
  let a = f16_round(act[i]);
  act[i] = a;
  var b = 0.0;
  if (i + 1u < pp.n) {
    b = f16_round(act[i + 1u]);
    act[i + 1u] = b;
  }
  packed[j] = half2_pack(a, b);
}

@group(0) @binding(0) var<storage, read> saved: array<u32>;
@group(0) @binding(1) var<storage, read_write> restored: array<f32>;
@group(0) @binding(2) var<uniform> pu: Params;

// The f32 values of a saved activation, for the backward step that reads it.
@compute @workgroup_size(WG)
fn amp_unpack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat(gid, nwg);
  let i = 2u * j;
  if (i >= pu.n) { return; }
  let v = half2_unpack(saved[j]);
  restored[i] = v.x;
  if (i + 1u < pu.n) { restored[i + 1u] = v.y; }
}

@group(0) @binding(0) var<storage, read_write> grad_io: array<f32>;
@group(0) @binding(1) var<storage, read> relu_out: array<u32>;
@group(0) @binding(2) var<uniform> pm: Params;

// A ReLU's backward from its saved f16 output, in place: g = 0 where relu(x) is not > 0. The f16
// output is > 0 exactly where x is, so this is relu_backward's select with no f32 copy of the output
// restored; the gradient is f16 already, so nothing is rounded. One invocation per word of outputs.
@compute @workgroup_size(WG)
fn amp_relu_mask(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat(gid, nwg);
  let i = 2u * j;
  if (i >= pm.n) { return; }
  let y = half2_unpack(relu_out[j]);
  grad_io[i] = select(0.0, grad_io[i], y.x > 0.0);
  if (i + 1u < pm.n) { grad_io[i + 1u] = select(0.0, grad_io[i + 1u], y.y > 0.0); }
}

@group(0) @binding(0) var<storage, read> grad_in: array<f32>;
@group(0) @binding(1) var<storage, read> relu_saved: array<u32>;
@group(0) @binding(2) var<storage, read_write> grad_out: array<f32>;
@group(0) @binding(3) var<uniform> pr: Params;

// The same, out of place (where the incoming gradient is also read by another branch).
@compute @workgroup_size(WG)
fn amp_relu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat(gid, nwg);
  let i = 2u * j;
  if (i >= pr.n) { return; }
  let y = half2_unpack(relu_saved[j]);
  grad_out[i] = select(0.0, grad_in[i], y.x > 0.0);
  if (i + 1u < pr.n) { grad_out[i + 1u] = select(0.0, grad_in[i + 1u], y.y > 0.0); }
}

@group(0) @binding(0) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(1) var<storage, read> scaler: array<f32>;
@group(0) @binding(2) var<uniform> ps: Params;

// The gradient of the scaled loss S·L w.r.t. the f16 logits: f16(S · dL/dlogits). S is a power of
// two, so the product is exact; past 65504 it becomes inf, which the step's check catches.
@compute @workgroup_size(WG)
fn amp_scale_grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= ps.n) { return; }
  dlogits[i] = f16_round(dlogits[i] * scaler[SCALE]);
}

@group(0) @binding(0) var<storage, read_write> grads: array<f32>;
@group(0) @binding(1) var<storage, read> half_grad: array<f32>;
@group(0) @binding(2) var<storage, read> scale_in: array<f32>;
@group(0) @binding(3) var<storage, read_write> partials: array<u32>;
@group(0) @binding(4) var<uniform> pg: Params;

var<workgroup> wg_bad: atomic<u32>;

// The parameter gradients as the optimiser takes them (GradScaler.unscale_): those of the f16
// weight copy (conv and linear weights and biases, half_grad = 1) are rounded to f16 — autocast
// computes them in f16 — then every gradient is multiplied by 1/S in f32. Each workgroup writes
// whether any of its results is inf or NaN to partials[workgroup] (an integer OR: no float atomics).
@compute @workgroup_size(WG)
fn amp_unscale(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u,
  @builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&wg_bad, 0u); }
  workgroupBarrier();
  let i = flat(gid, nwg);
  if (i < pg.n) {
    var g = grads[i];
    if (half_grad[i] != 0.0) { g = f16_round(g); }
    g = g * scale_in[INV_SCALE];
    grads[i] = g;
    if ((bitcast<u32>(g) & 0x7f800000u) == 0x7f800000u) { atomicOr(&wg_bad, 1u); }
  }
  workgroupBarrier();
  if (lid == 0u) { partials[wid.x + wid.y * nwg.x] = atomicLoad(&wg_bad); }
}

struct UpdateParams { groups: u32, growth_interval: u32, slot: u32, beta1: f32, beta2: f32 }

@group(0) @binding(0) var<storage, read> flags: array<u32>;
@group(0) @binding(1) var<storage, read_write> state: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> pupd: UpdateParams;

var<workgroup> any_bad: atomic<u32>;

// f32 underflow to 0 written out, so that no adapter's flush-to-zero choice shows in the state.
fn flush(v: f32) -> f32 { return select(v, 0.0, abs(v) < 1.17549435e-38); }

// After amp_unscale, one workgroup: found_inf = OR of the partials; the step's stats (skipped,
// the scale it used) at stats[slot + 2], stats[slot + 3]; then GradScaler.update() with PyTorch's
// defaults: inf/NaN found → S ×0.5 and the tracker to 0; else the tracker counts the clean step and
// S ×2 when it reaches growth_interval (2000). A clean step is applied by the optimiser (which runs
// next and reads found_inf): t advances and Adam's β^t with it.
@compute @workgroup_size(WG)
fn amp_update(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { atomicStore(&any_bad, 0u); }
  workgroupBarrier();
  var bad = 0u;
  for (var g = lid; g < pupd.groups; g += WG) { bad |= flags[g]; }
  if (bad != 0u) { atomicOr(&any_bad, 1u); }
  workgroupBarrier();
  if (lid != 0u) { return; }
  let found = atomicLoad(&any_bad) != 0u;
  stats[pupd.slot + 2u] = select(0.0, 1.0, found);
  stats[pupd.slot + 3u] = state[SCALE];
  state[FOUND_INF] = select(0.0, 1.0, found);
  if (found) {
    state[SCALE] = state[SCALE] * 0.5;
    state[INV_SCALE] = state[INV_SCALE] * 2.0;
    state[TRACKER] = 0.0;
    return;
  }
  let tracker = state[TRACKER] + 1.0;
  if (tracker >= f32(pupd.growth_interval)) {
    state[SCALE] = state[SCALE] * 2.0;
    state[INV_SCALE] = state[INV_SCALE] * 0.5;
    state[TRACKER] = 0.0;
  } else {
    state[TRACKER] = tracker;
  }
  state[APPLIED] = state[APPLIED] + 1.0;
  state[POW_BETA1] = flush(state[POW_BETA1] * pupd.beta1);
  state[POW_BETA2] = flush(state[POW_BETA2] * pupd.beta2);
}
