// The conv2d weight gradient for real GPUs (the 'gpu' kernel set; src/kernels/conv2d.ts picks it
// for kernels of at most 3×3 taps). conv2d.wgsl's weight gradient puts lanes on k = (ci, ky, kx),
// so the lanes of a warp read x from scattered planes and rows for every pixel; here lanes run over
// consecutive output pixels instead, so every load of dy and of each tap of x is coalesced, and
// each invocation sums all taps of one input channel × 8 output channels (72 FMAs per 17 loads for
// 3×3). The lanes' sums are then added in a fixed two-level order through workgroup memory, and
// each workgroup writes one partial per weight; conv2d_backward_sum (conv2d.wgsl) adds the
// partials of the pixel chunks in chunk order. Deterministic, no atomics.
//
// partials[z, co, ci, ky, kx] = Σ_{pixels of chunk z} dy[n, co, oy, ox] · x[n, ci, oy·S + ky − pad, ox·S + kx − pad]
// Grid: x = chunk z (p.chunk output pixels), y = ci, z = block of 8 output channels.

override KH: u32 = 3;
override KW: u32 = 3;
override S: u32 = 1;
// Pairs of adjacent output pixels per lane step (gpu.tune.convWeightGradPair; needs WO even,
// KW ≤ 3 and S ≤ 2, so a row of KW + S ≤ XMAX source values covers both pixels).
override PAIR: bool = false;
const XMAX: u32 = 5u;
// Output height and width as constants: the pixel index is split into (n, oy, ox) for every pixel,
// and division by a constant is a multiply and a shift where division by a uniform is a loop.
override HO: u32 = 1;
override WO: u32 = 1;
const WG: u32 = 256u;
// Taps per invocation: at most 3×3 (larger kernels use conv2d.wgsl's weight gradient).
const MAXT: u32 = 9u;
// Output channels per workgroup. 16 (144 FMAs per 25 loads) was tried on an H200 and ran the
// weight gradient 2.6× slower (5.38 against 2.07 ms per ResNet-20 step; register spills).
const CB: u32 = 8u;

struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, pad: u32,
  chunk: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> dy: array<f32>;

// Values reduced per round (of MAXT·CB = 72): 12 lanes' worth of sums fit in 12 KiB of workgroup
// memory, within every adapter's limit.
const PART: u32 = 12u;
const ROUNDS: u32 = MAXT * CB / PART;
// First level: every lane's sums, [value][lane].
var<workgroup> lane_sums: array<f32, PART * WG>;
// Second level: sums of 32 consecutive lanes, [value][group of 32].
var<workgroup> group_sums: array<f32, PART * 8u>;

@compute @workgroup_size(WG)
fn conv2d_weight_grad_pixels(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
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
    for (var u = wid.x * p.chunk + lane; u < u_end; u += WG) {
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
    for (var px = wid.x * p.chunk + lane; px < p_end; px += WG) {
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
        if (i / PART == r) { lane_sums[(i % PART) * WG + lane] = acc[t][c]; }
      }
    }
    workgroupBarrier();
    for (var j = lane; j < PART * 8u; j += WG) {
      let v = j / 8u;
      let grp = j % 8u;
      var s = 0.0;
      for (var l = 0u; l < 32u; l++) { s += lane_sums[v * WG + grp * 32u + l]; }
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
