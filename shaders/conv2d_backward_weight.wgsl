// conv2d weight gradient, as partial sums per chunk that conv2d_split_sum adds in chunk order:
// partials[z, co, ci, ky, kx] = Σ_{(n, oy, ox) in chunk z} dy[n, co, oy, ox] · x[n, ci, oy·s + ky − p, ox·s + kx − p].
// Two kernels, picked by src/kernels/conv2d.ts: lanes over the weights' k = (ci, ky, kx) and
// chunks of images (conv2d_backward_weight: CPU drivers, any kernel size), or lanes over output
// pixels and chunks of pixels (conv2d_backward_weight_pixels: the 'gpu' set, up to 3×3 taps).
// #include "conv2d_common.wgsl"
// #include "conv2d_store.wgsl"

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;

fn store_out(i: u32, v: f32) { partials[i] = v; }

// ---- lanes over k ---------------------------------------------------------------------------------

// 2 k-values × 8 channels of partial sums; lo = channels 0..3, hi = channels 4..7.
struct Acc2 { lo0: vec4f, hi0: vec4f, lo1: vec4f, hi1: vec4f }

// Chunk z = images [z·chunk, (z+1)·chunk). Lanes vary over k (two k per invocation, WG apart),
// the workgroup owns 8 output channels: each loaded dy value feeds 2 FMAs, each x value 8.
// Grid: x = k blocks (2·WG each), y = blocks of 8 output channels, z = chunk.
@compute @workgroup_size(WG)
fn conv2d_backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let kk = p.kh * p.kw;
  let kt = p.cin * kk;
  let k0 = wid.x * 2u * WG + lane;
  let k1 = k0 + WG;
  let co0 = wid.y * CB;
  let hw = p.h * p.w;
  let plane_out = p.ho * p.wo;
  // Per lane: the tap's offset inside one image (may be negative before the padding check).
  let t0 = tap_of(min(k0, kt - 1u), kk);
  let t1 = tap_of(min(k1, kt - 1u), kk);
  let dco = channel_offsets(co0, p.cout - 1u, plane_out);
  var acc = Acc2(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
  let n_end = min(p.n, (wid.z + 1u) * p.chunk);
  for (var n = wid.z * p.chunk; n < n_end; n++) {
    let x_img = n * p.cin * hw;
    let dy_img = n * p.cout * plane_out;
    for (var oy = 0u; oy < p.ho; oy++) {
      let iy0 = i32(oy * p.stride) + t0.y;
      let iy1 = i32(oy * p.stride) + t1.y;
      let r0 = u32(iy0) < p.h;
      let r1 = u32(iy1) < p.h;
      let row0 = x_img + t0.plane + u32(iy0) * p.w;
      let row1 = x_img + t1.plane + u32(iy1) * p.w;
      for (var ox = 0u; ox < p.wo; ox++) {
        let ix0 = i32(ox * p.stride) + t0.x;
        let ix1 = i32(ox * p.stride) + t1.x;
        let v0 = r0 && u32(ix0) < p.w;
        let v1 = r1 && u32(ix1) < p.w;
        let x0 = vec4f(select(0.0, x[select(0u, row0 + u32(ix0), v0)], v0));
        let x1 = vec4f(select(0.0, x[select(0u, row1 + u32(ix1), v1)], v1));
        let d = dy_img + oy * p.wo + ox;
        let gl = vec4f(dy[dco[0].x + d], dy[dco[0].y + d], dy[dco[0].z + d], dy[dco[0].w + d]);
        let gh = vec4f(dy[dco[1].x + d], dy[dco[1].y + d], dy[dco[1].z + d], dy[dco[1].w + d]);
        acc.lo0 = fma(x0, gl, acc.lo0);
        acc.hi0 = fma(x0, gh, acc.hi0);
        acc.lo1 = fma(x1, gl, acc.lo1);
        acc.hi1 = fma(x1, gh, acc.hi1);
      }
    }
  }
  let base = wid.z * p.cout * kt;
  store8(k0 < kt, base + k0, kt, co0, p.cout, acc.lo0, acc.hi0);
  store8(k1 < kt, base + k1, kt, co0, p.cout, acc.lo1, acc.hi1);
}

struct Tap { plane: u32, y: i32, x: i32 }

// k = (ci, ky, kx) → the input plane offset of ci and the tap's displacement (ky − p, kx − p).
fn tap_of(k: u32, kk: u32) -> Tap {
  let t = k % kk;
  return Tap((k / kk) * p.h * p.w, i32(t / p.kw) - i32(p.pad), i32(t % p.kw) - i32(p.pad));
}

// ---- lanes over pixels (real GPUs) ----------------------------------------------------------------
// The k-lane kernel above makes the lanes of a warp read x from scattered planes and rows for
// every pixel; here lanes run over consecutive output pixels instead, so every load of dy and of
// each tap of x is coalesced, and each invocation sums all taps of one input channel × 8 output
// channels (72 FMAs per 17 loads for 3×3). The lanes' sums are then added in a fixed two-level
// order through workgroup memory, and each workgroup writes one partial per weight.

// Pairs of adjacent output pixels per lane step (gpu.tune.convWeightGradPair; needs WO even,
// KW ≤ 3 and S ≤ 2, so a row of KW + S ≤ XMAX source values covers both pixels).
override PAIR: bool = false;
const XMAX: u32 = 5u;
// Output height and width as constants: the pixel index is split into (n, oy, ox) for every pixel,
// and division by a constant is a multiply and a shift where division by a uniform is a loop.
override HO: u32 = 1;
override WO: u32 = 1;
const LANES: u32 = 256u;
// Taps per invocation: at most 3×3 (larger kernels use the k-lane kernel).
const MAXT: u32 = 9u;
// Output channels per workgroup: CB. 16 (144 FMAs per 25 loads) was tried on an H200 and ran the
// weight gradient 2.6× slower (5.38 against 2.07 ms per ResNet-20 step; register spills).

// Values reduced per round (of MAXT·CB = 72): 12 lanes' worth of sums fit in 12 KiB of workgroup
// memory, within every adapter's limit.
const PART: u32 = 12u;
const ROUNDS: u32 = MAXT * CB / PART;
// First level: every lane's sums, [value][lane].
var<workgroup> lane_sums: array<f32, PART * LANES>;
// Second level: sums of 32 consecutive lanes, [value][group of 32].
var<workgroup> group_sums: array<f32, PART * 8u>;

// Chunk z = p.chunk output pixels (or pixel pairs). Grid: x = chunk z, y = ci, z = block of 8
// output channels.
@compute @workgroup_size(LANES)
fn conv2d_backward_weight_pixels(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let kk = KH * KW;
  let ci = wid.y;
  let co0 = wid.z * CB;
  let plane_out = HO * WO;
  let pixels = p.n * plane_out;
  let p_end = min(pixels, (wid.x + 1u) * p.chunk);
  // acc[t][c]: tap t, output channel co0 + c (channels past Cout load dy as 0).
  var acc: array<array<f32, CB>, MAXT>;
  if (PAIR) {
    // Units are pairs of horizontally adjacent output pixels (WO is even): the two pixels' taps
    // overlap, so a row of KW + S source values serves both (12 loads instead of 18 for 3×3, S = 1).
    let half = WO / 2u;
    let u_end = min(p.n * HO * half, (wid.x + 1u) * p.chunk);
    for (var u = wid.x * p.chunk + lane; u < u_end; u += LANES) {
      let n = u / (HO * half);
      let r = u % (HO * half);
      let oy = r / half;
      let ox = (r % half) * 2u;
      let q = oy * WO + ox;
      var g0: array<f32, CB>;
      var g1: array<f32, CB>;
      let dy_px = n * p.cout * plane_out + q;
      for (var c = 0u; c < CB; c++) {
        let co = co0 + c;
        let at = select(0u, dy_px + co * plane_out, co < p.cout);
        g0[c] = select(0.0, dy[at], co < p.cout);
        g1[c] = select(0.0, dy[at + 1u], co < p.cout);
      }
      let x_plane = (n * p.cin + ci) * p.h * p.w;
      for (var ky = 0u; ky < KH; ky++) {
        let iy = i32(oy * S + ky) - i32(p.pad);
        let row_ok = u32(iy) < p.h;
        var xs: array<f32, XMAX>;
        for (var j = 0u; j < KW + S; j++) {
          let ix = i32(ox * S + j) - i32(p.pad);
          let ok = row_ok && u32(ix) < p.w;
          xs[j] = select(0.0, x[select(0u, x_plane + u32(iy) * p.w + u32(ix), ok)], ok);
        }
        for (var kx = 0u; kx < KW; kx++) {
          let t = ky * KW + kx;
          for (var c = 0u; c < CB; c++) {
            acc[t][c] = fma(xs[kx + S], g1[c], fma(xs[kx], g0[c], acc[t][c]));
          }
        }
      }
    }
  } else {
    for (var px = wid.x * p.chunk + lane; px < p_end; px += LANES) {
      let n = px / plane_out;
      let q = px % plane_out;
      let oy = q / WO;
      let ox = q % WO;
      var g: array<f32, CB>;
      let dy_px = n * p.cout * plane_out + q;
      for (var c = 0u; c < CB; c++) {
        let co = co0 + c;
        g[c] = select(0.0, dy[select(0u, dy_px + co * plane_out, co < p.cout)], co < p.cout);
      }
      let x_plane = (n * p.cin + ci) * p.h * p.w;
      for (var ky = 0u; ky < KH; ky++) {
        let iy = i32(oy * S + ky) - i32(p.pad);
        let row_ok = u32(iy) < p.h;
        for (var kx = 0u; kx < KW; kx++) {
          let ix = i32(ox * S + kx) - i32(p.pad);
          let ok = row_ok && u32(ix) < p.w;
          let v = select(0.0, x[select(0u, x_plane + u32(iy) * p.w + u32(ix), ok)], ok);
          let t = ky * KW + kx;
          for (var c = 0u; c < CB; c++) { acc[t][c] = fma(v, g[c], acc[t][c]); }
        }
      }
    }
  }
  // Fixed-order reduction over the 256 lanes, PART of the 72 values per round: lanes write their
  // sums, each of 8 groups of 32 lanes is added in lane order, then the 8 group sums in order.
  // Value i = t·CB + c; the loops have constant bounds so that acc is indexed statically (a
  // dynamically indexed private array would live in slow local memory).
  let k_total = p.cin * kk;
  let base = wid.x * p.cout * k_total;
  for (var r = 0u; r < ROUNDS; r++) {
    for (var t = 0u; t < MAXT; t++) {
      for (var c = 0u; c < CB; c++) {
        let i = t * CB + c;
        if (i / PART == r) { lane_sums[(i % PART) * LANES + lane] = acc[t][c]; }
      }
    }
    workgroupBarrier();
    for (var j = lane; j < PART * 8u; j += LANES) {
      let v = j / 8u;
      let grp = j % 8u;
      var s = 0.0;
      for (var l = 0u; l < 32u; l++) { s += lane_sums[v * LANES + grp * 32u + l]; }
      group_sums[j] = s;
    }
    workgroupBarrier();
    if (lane < PART) {
      var s = 0.0;
      for (var grp = 0u; grp < 8u; grp++) { s += group_sums[lane * 8u + grp]; }
      let i = r * PART + lane;
      let t = i / CB;
      let co = co0 + i % CB;
      if (t < kk && co < p.cout) { partials[base + co * k_total + ci * kk + t] = s; }
    }
    workgroupBarrier();
  }
}
