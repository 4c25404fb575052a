// Batch norm with each channel's reductions in one workgroup (the 'cpu' kernel set; the common
// part and the [N, C, S] view are in batchnorm_common.wgsl). Two kinds of kernels:
// - per-channel reductions (batchnorm_stats_forward, batchnorm_backward_params): one workgroup
//   per channel, each invocation sums a fixed strided subset, then a fixed-shape tree combines
//   the partial sums, so the result is deterministic and needs no float atomics;
// - elementwise passes (batchnorm_forward_train/eval, batchnorm_backward_input): a grid over
//   (channel, sample) rows, so the channel comes from the grid instead of an integer division
//   per element (vector integer division is scalarised on CPU adapters); the lanes of a row walk
//   its S values with stride WX.
// #include "batchnorm_common.wgsl"

// ---- per-channel reductions -------------------------------------------------------------------

// Flat channel index from a possibly 2-D (folded) grid of one workgroup per channel.
fn channel(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// Batch mean and 1/sqrt(biased var + eps) per channel, and the momentum update of the running
// statistics (see moments and store_stats). Reads sx, writes save_mean, save_invstd and updates
// running_mean and running_var (batchnorm_common.wgsl).
@compute @workgroup_size(WX, WY)
fn batchnorm_stats_forward(@builtin(local_invocation_index) lid: u32, @builtin(local_invocation_id) l: vec3u,
                           @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = channel(wid, nwg);
  let live = c < p.c; // a folded grid may have a few spare workgroups; they still join the barriers
  let m = f32(p.n * p.s);
  let mo = moments(lid, l, c, 0u, select(0u, p.n, live), m);
  let var_biased = max((mo.dev.y - mo.dev.x * mo.dev.x / m) / m, 0.0);
  if (live && lid == 0u) { store_stats(c, mo.mean, var_biased, m); }
}

@group(0) @binding(1) var<storage, read> gx: array<f32>;
@group(0) @binding(2) var<storage, read> gdy: array<f32>;
@group(0) @binding(3) var<storage, read> gmean: array<f32>;
@group(0) @binding(4) var<storage, read> ginvstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

// dγ = Σ dy·x̂ and dβ = Σ dy per channel, with x̂ = (x − mean)·invstd from the saved statistics.
// Overwrites dgamma and dbeta.
@compute @workgroup_size(WX, WY)
fn batchnorm_backward_params(@builtin(local_invocation_index) lid: u32, @builtin(local_invocation_id) l: vec3u,
                             @builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let c = channel(wid, nwg);
  let live = c < p.c;
  var acc = vec2f(0.0);
  if (live) {
    let mean = gmean[c];
    let invstd = ginvstd[c];
    for (var n = l.y; n < p.n; n += WY) {
      let base = (n * p.c + c) * p.s;
      for (var s = l.x; s < p.s; s += WX) {
        let g = gdy[base + s];
        acc += vec2f(g, g * ((gx[base + s] - mean) * invstd));
      }
    }
  }
  let total = workgroup_sum(lid, acc);
  if (live && lid == 0u) {
    dbeta[c] = total.x;
    dgamma[c] = total.y;
  }
}

// ---- elementwise passes: grid (1, ceil(C/WY), N), lane (l.x, l.y) ↔ (s from l.x, channel) -----

@group(0) @binding(1) var<storage, read> ex: array<f32>;
@group(0) @binding(2) var<storage, read> center: array<f32>; // saved mean, or running mean
@group(0) @binding(3) var<storage, read> spread: array<f32>; // saved invstd, or running var
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

// y = γ·(x − mean)·invstd + β with the batch statistics saved by batchnorm_stats_forward.
@compute @workgroup_size(WX, WY)
fn batchnorm_forward_train(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.y;
  if (c >= p.c) { return; }
  let row = (gid.z * p.c + c) * p.s;
  let mean = center[c];
  let scale = spread[c] * gamma[c];
  let shift = beta[c];
  for (var s = gid.x; s < p.s; s += WX) {
    store_y(row + s, (ex[row + s] - mean) * scale + shift);
  }
}

fn store_y(i: u32, v: f32) {
  if (RELU) { y[i] = max(v, 0.0); } else { y[i] = v; }
}

// y = γ·(x − running_mean)/sqrt(running_var + eps) + β.
@compute @workgroup_size(WX, WY)
fn batchnorm_forward_eval(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.y;
  if (c >= p.c) { return; }
  let row = (gid.z * p.c + c) * p.s;
  let mean = center[c];
  let scale = gamma[c] / sqrt(spread[c] + p.eps);
  let shift = beta[c];
  for (var s = gid.x; s < p.s; s += WX) {
    store_y(row + s, (ex[row + s] - mean) * scale + shift);
  }
}

@group(0) @binding(1) var<storage, read> bx: array<f32>;
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read> bmean: array<f32>;
@group(0) @binding(4) var<storage, read> binvstd: array<f32>;
@group(0) @binding(5) var<storage, read> bgamma: array<f32>;
@group(0) @binding(6) var<storage, read> bdgamma: array<f32>;
@group(0) @binding(7) var<storage, read> bdbeta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

// dx = γ·invstd·(dy − (dβ + x̂·dγ)/M): the gradient through the batch mean and variance, with
// dβ and dγ from batchnorm_backward_params.
@compute @workgroup_size(WX, WY)
fn batchnorm_backward_input(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.y;
  if (c >= p.c) { return; }
  let row = (gid.z * p.c + c) * p.s;
  let m = f32(p.n * p.s);
  let mean = bmean[c];
  let invstd = binvstd[c];
  let scale = bgamma[c] * invstd;
  let dbeta_m = bdbeta[c] / m;
  let dgamma_m = bdgamma[c] / m;
  for (var s = gid.x; s < p.s; s += WX) {
    let xhat = (bx[row + s] - mean) * invstd;
    dx[row + s] = scale * (bdy[row + s] - dbeta_m - xhat * dgamma_m);
  }
}
