// Linear layers (PyTorch nn.Linear: W is [out, in], row-major) and the square matmul the
// benchmark uses, all as one GEMM body  C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]),
// where op() optionally transposes. Each entry point passes literal flags; shader compilers
// inline every call, so each entry compiles to a GEMM specialised for its operand layouts.
// Every output element sums its k terms in increasing k order within one invocation: no
// atomics, so results are bitwise reproducible on an adapter.
//
// Two bodies, picked per adapter by the TILED override: registers (CPU drivers) and a
// shared-memory tiled GEMM (real GPUs). The workgroup shape is set by the host to match.
// CPU drivers with fixed-size subgroups use linear_subgroups.wgsl instead where the shapes allow.

// #include "linear_common.wgsl"

override TILED: bool = false;
// Workgroup shape: 8×8 invocations of 8×8 outputs (registers) or 16×16 of 4×4 (tiled).
override WGX: u32 = 8;
override WGY: u32 = 8;

// op(A)[m,k] and op(B)[k,n] for the stored layouts.
fn loadA(m: u32, k: u32, ta: bool) -> f32 {
  if (ta) { return a[k * p.M + m]; }
  return a[m * p.K + k];
}
fn loadB(k: u32, n: u32, tb: bool) -> f32 {
  if (tb) { return b[n * p.K + k]; }
  return b[k * p.N + n];
}

// ---------------------------------------------------------------------------------------------
// Register body (CPU drivers). lavapipe (Mesa 25) runs 8 invocations as the lanes of one AVX
// vector, but it emits every storage-buffer load as an unrolled per-lane loop with an exec-mask
// test and a bounds check, even when the address is the same in all lanes, while an FMA is one
// instruction for all 8 lanes; with loads stubbed out this kernel runs ~9× faster. So the body
// minimises loads per FMA: each invocation owns an 8×8 block of C (16 vec4 accumulators) and,
// per 4 steps of k, loads an 8×4 block of op(A) and a 4×8 block of op(B) as 16 vec4 loads (a
// vec4 shares one per-lane loop iteration) for 256 FMAs. Measured on lavapipe, 1024³: ~7-8
// GFLOP/s for 8 rows × 4 columns with scalar loads, ~12 for this; 16×8 and 16×16 blocks were
// no faster (spills). No shared memory, no barriers (a barrier makes each invocation a coroutine).

// A block for rows m0..m0+7 and k..k+3: result[m] = op(A)[m0+m, k..k+3].
// Out-of-range rows are clamped to valid ones and never stored.
fn blockA(m0: u32, k: u32, ta: bool) -> array<vec4f, 8> {
  let last = p.M - 1u;
  if (A_VEC && !ta) {
    // Rows of A are contiguous in k.
    let s = p.K >> 2u; let q = k >> 2u;
    return array<vec4f, 8>(
      a4[min(m0, last) * s + q], a4[min(m0 + 1u, last) * s + q], a4[min(m0 + 2u, last) * s + q], a4[min(m0 + 3u, last) * s + q],
      a4[min(m0 + 4u, last) * s + q], a4[min(m0 + 5u, last) * s + q], a4[min(m0 + 6u, last) * s + q], a4[min(m0 + 7u, last) * s + q]);
  }
  if (A_VEC && ta) {
    // A is stored [K, M]: four consecutive rows m share one vec4 per k; transpose 4×4 blocks.
    let s = p.M >> 2u;
    let lo = min(m0, p.M - 4u) >> 2u; let hi = min(m0 + 4u, p.M - 4u) >> 2u;
    let l0 = a4[k * s + lo]; let l1 = a4[(k + 1u) * s + lo]; let l2 = a4[(k + 2u) * s + lo]; let l3 = a4[(k + 3u) * s + lo];
    let h0 = a4[k * s + hi]; let h1 = a4[(k + 1u) * s + hi]; let h2 = a4[(k + 2u) * s + hi]; let h3 = a4[(k + 3u) * s + hi];
    return array<vec4f, 8>(
      vec4f(l0.x, l1.x, l2.x, l3.x), vec4f(l0.y, l1.y, l2.y, l3.y), vec4f(l0.z, l1.z, l2.z, l3.z), vec4f(l0.w, l1.w, l2.w, l3.w),
      vec4f(h0.x, h1.x, h2.x, h3.x), vec4f(h0.y, h1.y, h2.y, h3.y), vec4f(h0.z, h1.z, h2.z, h3.z), vec4f(h0.w, h1.w, h2.w, h3.w));
  }
  return array<vec4f, 8>(
    rowA(min(m0, last), k, ta), rowA(min(m0 + 1u, last), k, ta), rowA(min(m0 + 2u, last), k, ta), rowA(min(m0 + 3u, last), k, ta),
    rowA(min(m0 + 4u, last), k, ta), rowA(min(m0 + 5u, last), k, ta), rowA(min(m0 + 6u, last), k, ta), rowA(min(m0 + 7u, last), k, ta));
}
fn rowA(m: u32, k: u32, ta: bool) -> vec4f {
  return vec4f(loadA(m, k, ta), loadA(m, k + 1u, ta), loadA(m, k + 2u, ta), loadA(m, k + 3u, ta));
}

// B block for k..k+3 and columns n0..n0+7: result[2i + h] = op(B)[k+i, n0+4h .. n0+4h+3].
fn blockB(n0: u32, k: u32, tb: bool) -> array<vec4f, 8> {
  let last = p.N - 1u;
  if (B_VEC && !tb) {
    // B is stored [K, N]: rows of op(B) are contiguous in n.
    let s = p.N >> 2u;
    let lo = min(n0, p.N - 4u) >> 2u; let hi = min(n0 + 4u, p.N - 4u) >> 2u;
    return array<vec4f, 8>(b4[k * s + lo], b4[k * s + hi], b4[(k + 1u) * s + lo], b4[(k + 1u) * s + hi],
                           b4[(k + 2u) * s + lo], b4[(k + 2u) * s + hi], b4[(k + 3u) * s + lo], b4[(k + 3u) * s + hi]);
  }
  if (B_VEC && tb) {
    // B is stored [N, K] (nn.Linear's W): each column n is contiguous in k; transpose 4×4 blocks.
    let s = p.K >> 2u; let q = k >> 2u;
    let t0 = b4[min(n0, last) * s + q]; let t1 = b4[min(n0 + 1u, last) * s + q];
    let t2 = b4[min(n0 + 2u, last) * s + q]; let t3 = b4[min(n0 + 3u, last) * s + q];
    let t4 = b4[min(n0 + 4u, last) * s + q]; let t5 = b4[min(n0 + 5u, last) * s + q];
    let t6 = b4[min(n0 + 6u, last) * s + q]; let t7 = b4[min(n0 + 7u, last) * s + q];
    return array<vec4f, 8>(
      vec4f(t0.x, t1.x, t2.x, t3.x), vec4f(t4.x, t5.x, t6.x, t7.x), vec4f(t0.y, t1.y, t2.y, t3.y), vec4f(t4.y, t5.y, t6.y, t7.y),
      vec4f(t0.z, t1.z, t2.z, t3.z), vec4f(t4.z, t5.z, t6.z, t7.z), vec4f(t0.w, t1.w, t2.w, t3.w), vec4f(t4.w, t5.w, t6.w, t7.w));
  }
  let c0 = min(n0, last); let c1 = min(n0 + 1u, last); let c2 = min(n0 + 2u, last); let c3 = min(n0 + 3u, last);
  let c4 = min(n0 + 4u, last); let c5 = min(n0 + 5u, last); let c6 = min(n0 + 6u, last); let c7 = min(n0 + 7u, last);
  return array<vec4f, 8>(
    colsB(k, c0, c1, c2, c3, tb), colsB(k, c4, c5, c6, c7, tb), colsB(k + 1u, c0, c1, c2, c3, tb), colsB(k + 1u, c4, c5, c6, c7, tb),
    colsB(k + 2u, c0, c1, c2, c3, tb), colsB(k + 2u, c4, c5, c6, c7, tb), colsB(k + 3u, c0, c1, c2, c3, tb), colsB(k + 3u, c4, c5, c6, c7, tb));
}
fn colsB(k: u32, n0: u32, n1: u32, n2: u32, n3: u32, tb: bool) -> vec4f {
  return vec4f(loadB(k, n0, tb), loadB(k, n1, tb), loadB(k, n2, tb), loadB(k, n3, tb));
}

// acc + Σ_i a[i]·b_i: four k steps for one row and four columns, chained through SSA values
// (lavapipe blends every loop-carried assignment with the loop mask: one blend per 4 FMAs).
fn mac4(acc: vec4f, a: vec4f, b0: vec4f, b1: vec4f, b2: vec4f, b3: vec4f) -> vec4f {
  return fma(vec4f(a.w), b3, fma(vec4f(a.z), b2, fma(vec4f(a.y), b1, fma(vec4f(a.x), b0, acc))));
}

fn gemmRegisters(gid: vec3u, ta: bool, tb: bool, hasBias: bool) {
  let m0 = gid.y * 8u;
  let n0 = gid.x * 8u;
  if (m0 >= p.M || n0 >= p.N) { return; }
  var c00 = vec4f(); var c01 = vec4f(); var c10 = vec4f(); var c11 = vec4f();
  var c20 = vec4f(); var c21 = vec4f(); var c30 = vec4f(); var c31 = vec4f();
  var c40 = vec4f(); var c41 = vec4f(); var c50 = vec4f(); var c51 = vec4f();
  var c60 = vec4f(); var c61 = vec4f(); var c70 = vec4f(); var c71 = vec4f();
  let kMain = p.K & ~3u;
  for (var k = 0u; k < kMain; k += 4u) {
    let A = blockA(m0, k, ta);
    let B = blockB(n0, k, tb);
    c00 = mac4(c00, A[0], B[0], B[2], B[4], B[6]); c01 = mac4(c01, A[0], B[1], B[3], B[5], B[7]);
    c10 = mac4(c10, A[1], B[0], B[2], B[4], B[6]); c11 = mac4(c11, A[1], B[1], B[3], B[5], B[7]);
    c20 = mac4(c20, A[2], B[0], B[2], B[4], B[6]); c21 = mac4(c21, A[2], B[1], B[3], B[5], B[7]);
    c30 = mac4(c30, A[3], B[0], B[2], B[4], B[6]); c31 = mac4(c31, A[3], B[1], B[3], B[5], B[7]);
    c40 = mac4(c40, A[4], B[0], B[2], B[4], B[6]); c41 = mac4(c41, A[4], B[1], B[3], B[5], B[7]);
    c50 = mac4(c50, A[5], B[0], B[2], B[4], B[6]); c51 = mac4(c51, A[5], B[1], B[3], B[5], B[7]);
    c60 = mac4(c60, A[6], B[0], B[2], B[4], B[6]); c61 = mac4(c61, A[6], B[1], B[3], B[5], B[7]);
    c70 = mac4(c70, A[7], B[0], B[2], B[4], B[6]); c71 = mac4(c71, A[7], B[1], B[3], B[5], B[7]);
  }
  // The last K % 4 steps, one k at a time with scalar loads (same order of additions).
  let lastM = p.M - 1u; let lastN = p.N - 1u;
  let n1 = min(n0 + 1u, lastN); let n2 = min(n0 + 2u, lastN); let n3 = min(n0 + 3u, lastN);
  let n4 = min(n0 + 4u, lastN); let n5 = min(n0 + 5u, lastN); let n6 = min(n0 + 6u, lastN); let n7 = min(n0 + 7u, lastN);
  for (var k = kMain; k < p.K; k++) {
    let lo = colsB(k, n0, n1, n2, n3, tb);
    let hi = colsB(k, n4, n5, n6, n7, tb);
    let a0 = vec4f(loadA(m0, k, ta)); let a1 = vec4f(loadA(min(m0 + 1u, lastM), k, ta));
    let a2 = vec4f(loadA(min(m0 + 2u, lastM), k, ta)); let a3 = vec4f(loadA(min(m0 + 3u, lastM), k, ta));
    let a4v = vec4f(loadA(min(m0 + 4u, lastM), k, ta)); let a5 = vec4f(loadA(min(m0 + 5u, lastM), k, ta));
    let a6 = vec4f(loadA(min(m0 + 6u, lastM), k, ta)); let a7 = vec4f(loadA(min(m0 + 7u, lastM), k, ta));
    c00 = fma(a0, lo, c00); c01 = fma(a0, hi, c01); c10 = fma(a1, lo, c10); c11 = fma(a1, hi, c11);
    c20 = fma(a2, lo, c20); c21 = fma(a2, hi, c21); c30 = fma(a3, lo, c30); c31 = fma(a3, hi, c31);
    c40 = fma(a4v, lo, c40); c41 = fma(a4v, hi, c41); c50 = fma(a5, lo, c50); c51 = fma(a5, hi, c51);
    c60 = fma(a6, lo, c60); c61 = fma(a6, hi, c61); c70 = fma(a7, lo, c70); c71 = fma(a7, hi, c71);
  }
  store4(m0, n0, c00, hasBias); store4(m0, n0 + 4u, c01, hasBias);
  store4(m0 + 1u, n0, c10, hasBias); store4(m0 + 1u, n0 + 4u, c11, hasBias);
  store4(m0 + 2u, n0, c20, hasBias); store4(m0 + 2u, n0 + 4u, c21, hasBias);
  store4(m0 + 3u, n0, c30, hasBias); store4(m0 + 3u, n0 + 4u, c31, hasBias);
  store4(m0 + 4u, n0, c40, hasBias); store4(m0 + 4u, n0 + 4u, c41, hasBias);
  store4(m0 + 5u, n0, c50, hasBias); store4(m0 + 5u, n0 + 4u, c51, hasBias);
  store4(m0 + 6u, n0, c60, hasBias); store4(m0 + 6u, n0 + 4u, c61, hasBias);
  store4(m0 + 7u, n0, c70, hasBias); store4(m0 + 7u, n0 + 4u, c71, hasBias);
}

// ---------------------------------------------------------------------------------------------
// Tiled body (real GPUs): a 16×16 workgroup computes a 64×64 tile of C, staging 16-wide slabs
// of op(A) and op(B) in workgroup memory; each invocation owns rows ly+16i and columns lx+16j
// (i, j < 4) so reads of the B slab are consecutive across a warp.
const TILE = 64u;
const SLAB = 16u;
var<workgroup> slabA: array<f32, SLAB * TILE>;  // [SLAB][TILE]: slabA[kk*TILE + mm] = op(A)[mt+mm, k0+kk]
var<workgroup> slabB: array<f32, SLAB * TILE>;  // [SLAB][TILE]: slabB[kk*TILE + nn] = op(B)[k0+kk, nt+nn]

fn gemmTiled(lid: vec3u, wid: vec3u, ta: bool, tb: bool, hasBias: bool) {
  let mt = wid.y * TILE;
  let nt = wid.x * TILE;
  // % bounds the invocation ids for Dawn's range analysis, so that the k loop's workgroup-memory
  // reads compile without bounds clamps (see linear_large.wgsl); the slab stores, 8 per 256
  // FMAs, take a % of their own since their index depends on the operand's layout (a select).
  let lx = lid.x % 16u; let ly = lid.y % 16u;
  let t = ly * 16u + lx;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += SLAB) {
    for (var r = 0u; r < 4u; r++) {
      let e = t + r * 256u;
      // Consecutive invocations walk the operand's contiguous dimension (coalesced loads).
      let am = select(e / SLAB, e % TILE, ta);
      let ak = select(e % SLAB, e / TILE, ta);
      let bn = select(e % TILE, e / SLAB, tb);
      let bk = select(e / TILE, e % SLAB, tb);
      let m = mt + am; let ka = k0 + ak;
      let n = nt + bn; let kb = k0 + bk;
      // Past the edges: zeros, so the full slab can be summed unconditionally.
      slabA[(ak * TILE + am) % (SLAB * TILE)] = select(0.0, loadA(min(m, p.M - 1u), min(ka, p.K - 1u), ta), m < p.M && ka < p.K);
      slabB[(bk * TILE + bn) % (SLAB * TILE)] = select(0.0, loadB(min(kb, p.K - 1u), min(n, p.N - 1u), tb), n < p.N && kb < p.K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < SLAB; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = slabA[kk * TILE + ly + 16u * i];
        bv[i] = slabB[kk * TILE + lx + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(av[i], bv[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = mt + ly + 16u * i;
    for (var j = 0u; j < 4u; j++) {
      let n = nt + lx + 16u * j;
      if (m < p.M && n < p.N) {
        var v = acc[i * 4u + j];
        if (hasBias) { v += bias[n]; }
        if (RELU) { v = max(v, 0.0); }
        c[m * p.N + n] = v;
      }
    }
  }
}

fn gemm(gid: vec3u, lid: vec3u, wid: vec3u, ta: bool, tb: bool, hasBias: bool) {
  if (TILED) { gemmTiled(lid, wid, ta, tb, hasBias); } else { gemmRegisters(gid, ta, tb, hasBias); }
}

// C = A·B with A [M,K], B [K,N].
@compute @workgroup_size(WGX, WGY)
fn matmul_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemm(gid, lid, wid, false, false, false);
}

// y = x·Wᵀ (+ bias): a = x [batch, in], b = W [out, in]; M = batch, N = out, K = in.
@compute @workgroup_size(WGX, WGY)
fn linear_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemm(gid, lid, wid, false, true, HAS_BIAS);
}

// dx = dy·W: a = dy [batch, out], b = W [out, in]; M = batch, N = in, K = out.
@compute @workgroup_size(WGX, WGY)
fn linear_backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemm(gid, lid, wid, false, false, false);
}

// dW = dyᵀ·x: a = dy [batch, out] read transposed, b = x [batch, in]; M = out, N = in, K = batch.
@compute @workgroup_size(WGX, WGY)
fn linear_backward_weight(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemm(gid, lid, wid, true, false, false);
}
