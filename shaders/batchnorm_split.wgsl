// Batch-norm reductions split over many workgroups per channel, for real GPUs (the 'gpu' kernel
// set; src/kernels/batchnorm.ts picks it). batchnorm.wgsl reduces a channel in one workgroup,
// which leaves a 132-SM GPU with 16–64 busy workgroups; here each channel's N samples are cut
// into fixed chunks, each chunk reduced by its own workgroup into a partial result, and a second
// pass combines a channel's partials one by one in chunk order. Deterministic: fixed chunks,
// fixed tree inside a workgroup, fixed combine order; no atomics.
// Also the backward elementwise pass with an optional fused ReLU (the BN output went through a
// ReLU whose backward is folded in here: g = dy where relu(y) > 0).

// #include "batchnorm_common.wgsl"

// Values of chunk z of a channel: samples [z·chunk, min(N, (z+1)·chunk)) × S.
fn chunk_count(z: u32) -> f32 { return f32((min(p.n, (z + 1u) * p.chunk) - z * p.chunk) * p.s); }

// ---- forward statistics -----------------------------------------------------------------------

@group(0) @binding(2) var<storage, read_write> partial: array<vec2f>; // [C, chunks]: (mean, M2)

// Per (chunk z = wid.x, channel c = wid.y): the chunk's mean and sum of squared deviations from
// it (moments, batchnorm_common.wgsl).
@compute @workgroup_size(WX, WY)
fn batchnorm_stats_partial(@builtin(local_invocation_index) lid: u32, @builtin(local_invocation_id) l: vec3u,
                           @builtin(workgroup_id) wid: vec3u) {
  let z = wid.x;
  let c = wid.y;
  let count = chunk_count(z);
  let mo = moments(lid, l, c, z * p.chunk, min(p.n, (z + 1u) * p.chunk), count);
  if (lid == 0u) { partial[c * p.chunks + z] = vec2f(mo.mean, max(mo.dev.y - mo.dev.x * mo.dev.x / count, 0.0)); }
}

@group(0) @binding(1) var<storage, read> cpart: array<vec2f>;

// One invocation per channel merges its partials in chunk order (Chan et al.'s pairwise update),
// then writes what batchnorm_stats_forward writes (store_stats, batchnorm_common.wgsl).
@compute @workgroup_size(64)
fn batchnorm_stats_combine(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.c) { return; }
  let mo = merged_moments(c);
  store_stats(c, mo.x, mo.y, mo.z);
}

// Channel c's mean, biased variance and value count from its partials in cpart, merged in chunk
// order (Chan et al.'s pairwise update).
fn merged_moments(c: u32) -> vec3f {
  var count = 0.0;
  var mean = 0.0;
  var m2 = 0.0;
  for (var z = 0u; z < p.chunks; z++) {
    let q = cpart[c * p.chunks + z];
    let nb = chunk_count(z);
    let total = count + nb;
    let d = q.x - mean;
    mean += d * (nb / total);
    m2 += q.y + d * d * (count * nb / total);
    count = total;
  }
  return vec3f(mean, m2 / count, count);
}

// ---- backward ---------------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read> bx: array<f32>;
@group(0) @binding(2) var<storage, read> bdy: array<f32>;
@group(0) @binding(3) var<storage, read> bry: array<f32>; // the fused ReLU's output (RELU), else unread
@group(0) @binding(4) var<storage, read> bmean: array<f32>;
@group(0) @binding(5) var<storage, read> binvstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> bout: array<vec2f>; // [C, chunks]: (Σg, Σg·x̂)

// The gradient reaching the BN output: dy, or dy masked by the fused ReLU (0 where relu(y) = 0,
// PyTorch's subgradient at 0).
fn grad_at(i: u32) -> f32 {
  if (RELU) { return select(0.0, bdy[i], bry[i] > 0.0); }
  return bdy[i];
}

// Per (chunk, channel): Σ g and Σ g·x̂ with x̂ = (x − mean)·invstd.
@compute @workgroup_size(WX, WY)
fn batchnorm_backward_partial(@builtin(local_invocation_index) lid: u32, @builtin(local_invocation_id) l: vec3u,
                              @builtin(workgroup_id) wid: vec3u) {
  let z = wid.x;
  let c = wid.y;
  let mean = bmean[c];
  let invstd = binvstd[c];
  let n1 = min(p.n, (z + 1u) * p.chunk);
  var acc = vec2f(0.0);
  for (var n = z * p.chunk + l.y; n < n1; n += WY) {
    let base = (n * p.c + c) * p.s;
    for (var s = l.x; s < p.s; s += WX) {
      let g = grad_at(base + s);
      acc += vec2f(g, g * ((bx[base + s] - mean) * invstd));
    }
  }
  let total = workgroup_sum(lid, acc);
  if (lid == 0u) { bout[c * p.chunks + z] = total; }
}

// The partials and the coefficients share one scratch binding: WebGPU forbids binding one buffer
// both read-only and writable in a dispatch, even where the ranges do not overlap.
@group(0) @binding(1) var<storage, read_write> gscratch: array<f32>;
@group(0) @binding(2) var<storage, read> gmean: array<f32>;
@group(0) @binding(3) var<storage, read> ginvstd: array<f32>;
@group(0) @binding(4) var<storage, read> ggamma: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;

// dβ = Σ g, dγ = Σ g·x̂ per channel (partials at gscratch[0..), added in chunk order), and the
// per-channel coefficients of dx at gscratch[coef_at + 8c ..]: mean, invstd, γ·invstd, 0, dβ/M, dγ/M, 0, 0.
@compute @workgroup_size(64)
fn batchnorm_backward_combine(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.c) { return; }
  var total = vec2f(0.0);
  for (var z = 0u; z < p.chunks; z++) {
    let i = 2u * (c * p.chunks + z);
    total += vec2f(gscratch[i], gscratch[i + 1u]);
  }
  dbeta[c] = total.x;
  dgamma[c] = total.y;
  let m = f32(p.n * p.s);
  let invstd = ginvstd[c];
  let k = p.coef_at + 8u * c;
  gscratch[k] = gmean[c];
  gscratch[k + 1u] = invstd;
  gscratch[k + 2u] = ggamma[c] * invstd;
  gscratch[k + 4u] = total.x / m;
  gscratch[k + 5u] = total.y / m;
}

@group(0) @binding(4) var<storage, read> acoef: array<f32>;
@group(0) @binding(5) var<storage, read_write> adx: array<f32>;

// dx = γ·invstd·(g − dβ/M − x̂·dγ/M), the same expression as batchnorm_backward_input, with the
// coefficients from batchnorm_backward_combine. Grid (1, ceil(C/WY), N) as batchnorm.wgsl's
// elementwise passes.
@compute @workgroup_size(WX, WY)
fn batchnorm_backward_apply(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.y;
  if (c >= p.c) { return; }
  let row = (gid.z * p.c + c) * p.s;
  let k0 = 8u * c;
  let mean = acoef[k0];
  let invstd = acoef[k0 + 1u];
  let scale = acoef[k0 + 2u];
  let dbeta_m = acoef[k0 + 4u];
  let dgamma_m = acoef[k0 + 5u];
  for (var s = gid.x; s < p.s; s += WX) {
    let xhat = (bx[row + s] - mean) * invstd;
    adx[row + s] = scale * (grad_at(row + s) - dbeta_m - xhat * dgamma_m);
  }
}

// ---- combine and apply in one pass -------------------------------------------------------------
// The combine passes above cost a dispatch per batch norm and direction (42 of a ResNet-20
// training step); these entry points combine in the elementwise pass instead. In each workgroup
// one lane per channel merges that channel's partials — the same operations in the same order as
// the combine passes, so the same bits — and shares the result through workgroup memory; the
// workgroups of sample 0 also write what the combine pass wrote for later passes (saved and
// running statistics, dγ and dβ), each channel once. They bind 9 and 10 storage buffers:
// src/kernels/batchnorm.ts keeps the separate passes where the device allows fewer.

var<workgroup> combined: array<vec4f, WY>;

@group(0) @binding(6) var<storage, read> fx: array<f32>;
@group(0) @binding(7) var<storage, read> fgamma: array<f32>;
@group(0) @binding(8) var<storage, read> fbeta: array<f32>;
@group(0) @binding(9) var<storage, read_write> fy: array<f32>;

// batchnorm_stats_combine, then batchnorm_forward_train's y = (x − mean)·invstd·γ + β (ReLU'd
// with RELU). Partials in cpart, statistics out through store_stats. Grid (1, ceil(C/WY), N).
@compute @workgroup_size(WX, WY)
fn batchnorm_forward_combine_apply(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let c = gid.y;
  if (l.x == 0u && c < p.c) {
    let mo = merged_moments(c);
    if (gid.z == 0u) { store_stats(c, mo.x, mo.y, mo.z); }
    combined[l.y] = vec4f(mo.x, inv_std(mo.y), 0.0, 0.0);
  }
  workgroupBarrier();
  if (c >= p.c) { return; }
  let row = (gid.z * p.c + c) * p.s;
  let mean = combined[l.y].x;
  let scale = combined[l.y].y * fgamma[c];
  let shift = fbeta[c];
  for (var s = gid.x; s < p.s; s += WX) {
    let v = (fx[row + s] - mean) * scale + shift;
    if (RELU) { fy[row + s] = max(v, 0.0); } else { fy[row + s] = v; }
  }
}

@group(0) @binding(6) var<storage, read> bpart: array<vec2f>; // [C, chunks]: (Σg, Σg·x̂)
@group(0) @binding(7) var<storage, read> cgamma: array<f32>;
@group(0) @binding(8) var<storage, read_write> cdgamma: array<f32>;
@group(0) @binding(9) var<storage, read_write> cdbeta: array<f32>;
@group(0) @binding(10) var<storage, read_write> cdx: array<f32>;

// batchnorm_backward_combine, then batchnorm_backward_apply's dx = γ·invstd·(g − dβ/M − x̂·dγ/M).
// Reads bx, bdy, bry, bmean, binvstd as batchnorm_backward_partial. Grid (1, ceil(C/WY), N).
@compute @workgroup_size(WX, WY)
fn batchnorm_backward_combine_apply(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let c = gid.y;
  if (l.x == 0u && c < p.c) {
    var total = vec2f(0.0);
    for (var z = 0u; z < p.chunks; z++) { total += bpart[c * p.chunks + z]; }
    if (gid.z == 0u) {
      cdbeta[c] = total.x;
      cdgamma[c] = total.y;
    }
    let m = f32(p.n * p.s);
    combined[l.y] = vec4f(cgamma[c] * binvstd[c], total.x / m, total.y / m, 0.0);
  }
  workgroupBarrier();
  if (c >= p.c) { return; }
  let row = (gid.z * p.c + c) * p.s;
  let mean = bmean[c];
  let invstd = binvstd[c];
  let k = combined[l.y];
  for (var s = gid.x; s < p.s; s += WX) {
    let xhat = (bx[row + s] - mean) * invstd;
    cdx[row + s] = k.x * (grad_at(row + s) - k.y - xhat * k.z);
  }
}
