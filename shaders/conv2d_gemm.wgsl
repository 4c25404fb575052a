// 2-D convolution as implicit GEMM with workgroup-memory tiles: the kernels for real GPUs
// (src/kernels/conv2d.ts picks them for the 'gpu' adapter class; conv2d.wgsl keeps the
// lavapipe-tuned kernels, which avoid workgroup memory because barriers are costly on a CPU).
// Same conventions as conv2d.wgsl: NCHW, weight [Cout, Cin, kh, kw], zero padding, stride S.
//
// Each kernel is C[i, j] = Σ_r A[i, r] · B[r, j] without materialising A or B:
//   forward          i = output pixel (n, oy, ox), j = co, r = (ci, ky, kx); A = im2col(x), B = Wᵀ
//   backward_input   i = input pixel (n, iy, ix),  j = ci, r = (co, ky, kx); A = the dy values
//                    each tap reaches (0 where (iy + pad − ky) is not a multiple of S), B = W
//   backward_weight  i = (ci, ky, kx),             j = co, r = output pixel of one split;
//                    A = im2col(x)ᵀ, B = dy; each split writes partial sums that
//                    conv2d_backward_sum (conv2d.wgsl) adds in split order.
// A workgroup owns a BM × BN tile of C and walks r in slices of KC: it stages the A and B slices
// in workgroup memory (each global value loaded once per tile), then every invocation
// accumulates a 4 × 4 block of C from vec4 reads (16 FMAs per two workgroup-memory loads).
// Deterministic: each C element (or split partial) is one invocation's sum in r order; no atomics.

override BM: u32 = 64;  // tile rows (a multiple of 16)
override BN: u32 = 64;  // tile columns: 16, 32 or 64
override KH: u32 = 3;
override KW: u32 = 3;
override S: u32 = 1;
override HAS_BIAS: bool = false;
override WG: u32 = BM * BN / 16u; // one invocation per 4 × 4 block (derived, never set by the host)

// Reduction slice staged per step.
const KC: u32 = 16u;

// Every field is a u32 (src/kernels/conv2d.ts writes this layout once, as GEMM_PARAMS).
struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, pad: u32,
  // backward_weight: output pixels per split.
  chunk: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;       // x (forward, weight), dy (input)
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // y, dx, or the split partials
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> wt: array<f32>;        // W (forward, input), dy (weight)
@group(0) @binding(4) var<storage, read> bias: array<f32>;      // forward only

// Row-major slices [KC][BM] of A and [KC][BN] of B as vec4 rows, padded by one vec4 so that
// column-wise writes from different rows fall in different banks.
const PAD: u32 = 1u;
var<workgroup> ta: array<vec4f, KC * (BM / 4u + PAD)>;
var<workgroup> tb: array<vec4f, KC * (BN / 4u + PAD)>;

fn put_a(r: u32, i: u32, v: f32) { ta[r * (BM / 4u + PAD) + i / 4u][i % 4u] = v; }
fn put_b(r: u32, j: u32, v: f32) { tb[r * (BN / 4u + PAD) + j / 4u][j % 4u] = v; }

// acc.cN = column 4·tj + N of rows 4·ti .. 4·ti + 3.
struct Acc { c0: vec4f, c1: vec4f, c2: vec4f, c3: vec4f }

fn mac(acc_in: Acc, ti: u32, tj: u32) -> Acc {
  var acc = acc_in;
  for (var r = 0u; r < KC; r++) {
    let a = ta[r * (BM / 4u + PAD) + ti];
    let b = tb[r * (BN / 4u + PAD) + tj];
    acc.c0 = fma(a, vec4f(b.x), acc.c0);
    acc.c1 = fma(a, vec4f(b.y), acc.c1);
    acc.c2 = fma(a, vec4f(b.z), acc.c2);
    acc.c3 = fma(a, vec4f(b.w), acc.c3);
  }
  return acc;
}

fn column(acc: Acc, c: u32) -> vec4f {
  switch c { case 0u: { return acc.c0; } case 1u: { return acc.c1; } case 2u: { return acc.c2; } default: { return acc.c3; } }
}

// Flat row-tile index of a grid folded over x and y (see gemmGrid in src/kernels/conv2d.ts).
fn row_tile(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// src[i] where ok, else 0, without an out-of-range read.
fn ld_src(i: u32, ok: bool) -> f32 { return select(0.0, src[select(0u, i, ok)], ok); }
fn ld_wt(i: u32, ok: bool) -> f32 { return select(0.0, wt[select(0u, i, ok)], ok); }

struct Pixel { img: u32, y: u32, x: u32, q: u32 }

fn pixel(i: u32, rows: u32, cols: u32) -> Pixel {
  let plane = rows * cols;
  let q = i % plane;
  return Pixel(i / plane, q / cols, q % cols, q);
}

// y[n, co, oy, ox] = bias[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · x[n, ci, oy·S + ky − pad, ox·S + kx − pad]
// Grid: (x, y) fold the row tiles (BM output pixels each), z = column tile (BN output channels).
@compute @workgroup_size(WG)
fn conv2d_gemm_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lid: u32) {
  let kk = KH * KW;
  let red = p.cin * kk;
  let rows = p.n * p.ho * p.wo;
  let i0 = row_tile(wid, nwg) * BM;
  let j0 = wid.z * BN;
  // Loading role: one output pixel per invocation (WG is a multiple of BM), slices r = lr, lr + step, …
  let li = lid % BM;
  let lr = lid / BM;
  let step = WG / BM;
  let i_ok = i0 + li < rows;
  let px = pixel(min(i0 + li, rows - 1u), p.ho, p.wo);
  let iy0 = i32(px.y * S) - i32(p.pad);
  let ix0 = i32(px.x * S) - i32(p.pad);
  let x_img = px.img * p.cin * p.h * p.w;
  // Computing role: a 4 × 4 block.
  let tj = lid % (BN / 4u);
  let ti = lid / (BN / 4u);
  var acc = Acc(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var r0 = 0u; r0 < red; r0 += KC) {
    for (var r = lr; r < KC; r += step) {
      let k = r0 + r;
      let t = k % kk;
      let iy = iy0 + i32(t / KW);
      let ix = ix0 + i32(t % KW);
      let ok = i_ok && k < red && u32(iy) < p.h && u32(ix) < p.w;
      put_a(r, li, ld_src(x_img + ((k / kk) * p.h + u32(iy)) * p.w + u32(ix), ok));
    }
    // B[k, j] = W[j0 + j, k]: consecutive invocations read consecutive k.
    for (var e = lid; e < KC * BN; e += WG) {
      let r = e % KC;
      let j = e / KC;
      let k = r0 + r;
      put_b(r, j, ld_wt((j0 + j) * red + k, k < red && j0 + j < p.cout));
    }
    workgroupBarrier();
    acc = mac(acc, ti, tj);
    workgroupBarrier();
  }
  let plane = p.ho * p.wo;
  for (var c = 0u; c < 4u; c++) {
    let co = j0 + 4u * tj + c;
    if (co >= p.cout) { break; }
    var b = 0.0;
    if (HAS_BIAS) { b = bias[co]; }
    let v = column(acc, c) + vec4f(b);
    for (var e = 0u; e < 4u; e++) {
      let i = i0 + 4u * ti + e;
      if (i >= rows) { break; }
      let q = pixel(i, p.ho, p.wo);
      out[(q.img * p.cout + co) * plane + q.q] = v[e];
    }
  }
}

// dx[n, ci, iy, ix] = Σ_{co, ky, kx} dy[n, co, (iy + pad − ky) / S, (ix + pad − kx) / S] · W[co, ci, ky, kx]
// over the taps where both divisions are exact and land inside dy. Grid as the forward kernel,
// with rows = input pixels and columns = input channels.
@compute @workgroup_size(WG)
fn conv2d_gemm_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                              @builtin(local_invocation_index) lid: u32) {
  let kk = KH * KW;
  let red = p.cout * kk;
  let rows = p.n * p.h * p.w;
  let i0 = row_tile(wid, nwg) * BM;
  let j0 = wid.z * BN;
  let li = lid % BM;
  let lr = lid / BM;
  let step = WG / BM;
  let i_ok = i0 + li < rows;
  let px = pixel(min(i0 + li, rows - 1u), p.h, p.w);
  let ty0 = i32(px.y + p.pad);
  let tx0 = i32(px.x + p.pad);
  let plane_out = p.ho * p.wo;
  let dy_img = px.img * p.cout * plane_out;
  let tj = lid % (BN / 4u);
  let ti = lid / (BN / 4u);
  var acc = Acc(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var r0 = 0u; r0 < red; r0 += KC) {
    for (var r = lr; r < KC; r += step) {
      let k = r0 + r;
      let t = k % kk;
      let ty = ty0 - i32(t / KW);
      let tx = tx0 - i32(t % KW);
      let oy = u32(ty) / S;
      let ox = u32(tx) / S;
      let ok = i_ok && k < red && ty >= 0 && tx >= 0 && u32(ty) % S == 0u && u32(tx) % S == 0u && oy < p.ho && ox < p.wo;
      put_a(r, li, ld_src(dy_img + (k / kk) * plane_out + oy * p.wo + ox, ok));
    }
    // B[(co, t), j] = W[co, j0 + j, t]: consecutive invocations read consecutive (co, t).
    for (var e = lid; e < KC * BN; e += WG) {
      let r = e % KC;
      let j = e / KC;
      let k = r0 + r;
      let ci = j0 + j;
      put_b(r, j, ld_wt(((k / kk) * p.cin + ci) * kk + k % kk, k < red && ci < p.cin));
    }
    workgroupBarrier();
    acc = mac(acc, ti, tj);
    workgroupBarrier();
  }
  let plane = p.h * p.w;
  for (var c = 0u; c < 4u; c++) {
    let ci = j0 + 4u * tj + c;
    if (ci >= p.cin) { break; }
    let v = column(acc, c);
    for (var e = 0u; e < 4u; e++) {
      let i = i0 + 4u * ti + e;
      if (i >= rows) { break; }
      let q = pixel(i, p.h, p.w);
      out[(q.img * p.cin + ci) * plane + q.q] = v[e];
    }
  }
}

// partials[z, co, k] = Σ_{output pixels of split z} dy[n, co, oy, ox] · x[n, ci, oy·S + ky − pad, ox·S + kx − pad]
// with k = (ci, ky, kx). Grid: x = row tiles (BM values of k), y = column tiles (BN output
// channels), z = split (p.chunk output pixels each).
@compute @workgroup_size(WG)
fn conv2d_gemm_backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let kk = KH * KW;
  let red_k = p.cin * kk;
  let plane_out = p.ho * p.wo;
  let pixels = p.n * plane_out;
  let i0 = wid.x * BM;
  let j0 = wid.y * BN;
  let p_begin = wid.z * p.chunk;
  let p_end = min(pixels, p_begin + p.chunk);
  // Loading role: one pixel slot r (KC divides WG), several k (A) and output channels (B), so
  // consecutive invocations read consecutive pixels.
  let lr = lid % KC;
  let first = lid / KC;
  let step = WG / KC;
  let tj = lid % (BN / 4u);
  let ti = lid / (BN / 4u);
  var acc = Acc(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  for (var p0 = p_begin; p0 < p_end; p0 += KC) {
    let pi = p0 + lr;
    let p_ok = pi < p_end;
    let px = pixel(min(pi, pixels - 1u), p.ho, p.wo);
    let iy0 = i32(px.y * S) - i32(p.pad);
    let ix0 = i32(px.x * S) - i32(p.pad);
    let x_img = px.img * p.cin * p.h * p.w;
    for (var i = first; i < BM; i += step) {
      let k = i0 + i;
      let t = k % kk;
      let iy = iy0 + i32(t / KW);
      let ix = ix0 + i32(t % KW);
      let ok = p_ok && k < red_k && u32(iy) < p.h && u32(ix) < p.w;
      put_a(lr, i, ld_src(x_img + ((k / kk) * p.h + u32(iy)) * p.w + u32(ix), ok));
    }
    let dy_px = px.img * p.cout * plane_out + px.q;
    for (var j = first; j < BN; j += step) {
      put_b(lr, j, ld_wt(dy_px + (j0 + j) * plane_out, p_ok && j0 + j < p.cout));
    }
    workgroupBarrier();
    acc = mac(acc, ti, tj);
    workgroupBarrier();
  }
  let base = wid.z * p.cout * red_k;
  for (var c = 0u; c < 4u; c++) {
    let co = j0 + 4u * tj + c;
    if (co >= p.cout) { break; }
    let v = column(acc, c);
    for (var e = 0u; e < 4u; e++) {
      let k = i0 + 4u * ti + e;
      if (k >= red_k) { break; }
      out[base + co * red_k + k] = v[e];
    }
  }
}
