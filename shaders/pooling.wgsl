// Pooling on NCHW tensors, PyTorch semantics in floor mode: a window that would hang over the
// bottom or right edge is dropped, and the input rows/columns it would have covered get dx = 0.
// The N·C planes are independent, so every kernel sees the tensor as stacked H×W planes, with
// one invocation per output, or per input element for the average-pool backwards (a gather).
// Every dx is written exactly once, so no atomics and no prior zeroing are needed. The flat
// index is folded over a 2-D grid for big tensors.

override WG: u32 = 256;

struct Params {
  count: u32,  // invocations that do work
  h: u32, w: u32,    // input plane
  oh: u32, ow: u32,  // output plane
  k: u32,            // window = stride (avgpool); 2 for maxpool2x2; h·w for global pooling
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * WG; }

struct Window { origin: u32, oy: u32, ox: u32 }

// Output index i → (plane, oy, ox) → flat index of the window's top-left input element.
fn window_of(i: u32, stride: u32) -> Window {
  let ox = i % p.ow;
  let t = i / p.ow;
  let oy = t % p.oh;
  let plane = t / p.oh;
  return Window((plane * p.h + oy * stride) * p.w + ox * stride, oy, ox);
}

// Position 0..3 (row-major) of the 2×2 window's maximum; ties go to the first, as in PyTorch.
fn argmax2x2(o: u32) -> u32 {
  var best = a[o];
  var at = 0u;
  let v1 = a[o + 1u];
  if (v1 > best) { best = v1; at = 1u; }
  let v2 = a[o + p.w];
  if (v2 > best) { best = v2; at = 2u; }
  if (a[o + p.w + 1u] > best) { at = 3u; }
  return at;
}

// out = max over each 2×2 window of a (= x).
@compute @workgroup_size(WG)
fn maxpool2x2_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.count) { return; }
  let o = window_of(i, 2u).origin;
  out[i] = max(max(a[o], a[o + 1u]), max(a[o + p.w], a[o + p.w + 1u]));
}

// One invocation per output window (a scatter without overlap: the windows tile the input):
// out (= dx) gets b (= dy) at the window's argmax over a (= forward input x) and 0 at its other
// three elements; the window in the last column/row also zeroes the column/row that floor mode
// drops when W/H is odd, so every dx is written exactly once.
@compute @workgroup_size(WG)
fn maxpool2x2_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.count) { return; }
  let win = window_of(i, 2u);
  let o = win.origin;
  let at = argmax2x2(o);
  let g = b[i];
  out[o] = select(0.0, g, at == 0u);
  out[o + 1u] = select(0.0, g, at == 1u);
  out[o + p.w] = select(0.0, g, at == 2u);
  out[o + p.w + 1u] = select(0.0, g, at == 3u);
  let last_col = win.ox + 1u == p.ow && p.w % 2u == 1u;
  let last_row = win.oy + 1u == p.oh && p.h % 2u == 1u;
  if (last_col) {
    out[o + 2u] = 0.0;
    out[o + p.w + 2u] = 0.0;
  }
  if (last_row) {
    out[o + 2u * p.w] = 0.0;
    out[o + 2u * p.w + 1u] = 0.0;
    if (last_col) { out[o + 2u * p.w + 2u] = 0.0; }
  }
}

// out = mean over each k×k window (stride k) of a (= x), summed in row-major order.
@compute @workgroup_size(WG)
fn avgpool_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.count) { return; }
  let o = window_of(i, p.k).origin;
  var sum = 0.0;
  for (var r = 0u; r < p.k; r++) {
    for (var c = 0u; c < p.k; c++) { sum += a[o + r * p.w + c]; }
  }
  out[i] = sum / f32(p.k * p.k);
}

// One invocation per input element: out (= dx) = b (= dy) of its window / k², or 0 outside
// every window.
@compute @workgroup_size(WG)
fn avgpool_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat(gid, nwg);
  if (j >= p.count) { return; }
  let x = j % p.w;
  let t = j / p.w;
  let y = t % p.h;
  let plane = t / p.h;
  let ox = x / p.k;
  let oy = y / p.k;
  var g = 0.0;
  if (ox < p.ow && oy < p.oh) { g = b[(plane * p.oh + oy) * p.ow + ox] / f32(p.k * p.k); }
  out[j] = g;
}

// out[plane] = mean of a (= x) over the plane's k = H·W values, summed in order.
@compute @workgroup_size(WG)
fn global_avgpool_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.count) { return; }
  let o = i * p.k;
  var sum = 0.0;
  for (var e = 0u; e < p.k; e++) { sum += a[o + e]; }
  out[i] = sum / f32(p.k);
}

// out (= dx) = b (= dy) of the element's plane / (H·W).
@compute @workgroup_size(WG)
fn global_avgpool_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let j = flat(gid, nwg);
  if (j >= p.count) { return; }
  out[j] = b[j / p.k] / f32(p.k);
}
