// Large-tile GEMM for real GPUs, the 'tiledLarge' body of src/kernels/linear.ts:
//   C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (then max(·, 0) when RELU),
// with the same bindings and entry points as linear.wgsl. The host picks it for GEMMs with enough
// 128×128 output tiles to fill the GPU (the 64×64 'tiled' body of linear.wgsl keeps the small ones).
//
// Why this shape: a 16×16 workgroup computes a 128×128 tile of C, each invocation an 8×8 block
// (rows ty·4+i and 64+ty·4+i, columns tx·4+j and 64+tx·4+j: 16 vec4 accumulators). Per k it
// reads two vec4 of the A slab and two of the B slab from workgroup memory for 64 FMAs, i.e. 16
// FMAs per workgroup-memory load (the 4×4 'tiled' body does 2). The slabs hold BK = 8 (or 16)
// values of k; the next slab is loaded from global memory into registers while this one is used,
// so one load latency hides behind 512 (1024) FMAs. Global loads are vec4s along the operand's
// contiguous dimension (A_VEC / B_VEC, set by the host when that dimension is a multiple of 4),
// else four bounds-checked scalars.
//
// Every output sums its K terms in increasing k order with fma, within one invocation, exactly as
// linear.wgsl's bodies do: the three bodies give bitwise-identical results (a kernel case checks
// it), and no atomics are used, so results are reproducible on an adapter.

// #include "linear_common.wgsl"

// k values per slab: 8, or 16 (gpu.tune.gemmSlab) for half the barriers at twice the loads in
// flight. Each invocation moves BK / 8 vec4s of each operand per slab.
override BK: u32 = 8u;
const MAX_LOADS = 2u;
// More k slabs than any GEMM has (K < 2³²), as a constant loop bound (see the k loop).
const MAX_SLABS = 0x1fffffffu;
// Slabs of one k-step range: sA[k·32 + m/4] = op(A)[m0+m .. m0+m+3, k0+k] (4 rows of one k),
// sB[k·32 + n/4] = op(B)[k0+k, n0+n .. n0+n+3].
// DOUBLE (the default; gpu.tune.gemmDouble = 0 turns it off): two slab buffers, so the next slab
// is stored while this one is read and one barrier per slab suffices instead of two.
override DOUBLE: bool = true;
const SLAB_VEC4S = 32u; // vec4s per k row of a slab: 128 values of m (or n)
// Derived from BK and DOUBLE (the host never sets them): slab buffers, and vec4s per slab.
override BUFFERS: u32 = select(1u, 2u, DOUBLE);
override SLAB: u32 = BK * SLAB_VEC4S;
var<workgroup> sA: array<vec4f, SLAB * BUFFERS>;
var<workgroup> sB: array<vec4f, SLAB * BUFFERS>;

// Bounds clamps. Dawn bounds-checks every index into workgroup and function memory unless its
// integer range analysis proves it in range; a clamp in the k loop costs an add and a min per
// workgroup-memory read and keeps the driver from folding the offsets into the loads (H200 4096³:
// 27–29 TFLOP/s with Dawn's robustness, 32 without it, which also drops Vulkan's
// robustBufferAccess). The analysis follows +, −, ×, ÷ and % of known ranges, simple for-loop
// counters and an entry point's local_invocation_id, but not &, >>, min, select or a function's
// parameters. So the index arithmetic below uses only those, each function bounds its parameters
// once with % (a no-op on values already in range), and test/kernels/bounds-clamps.test.ts checks
// that the compiled kernel has no clamps left.

// Lanes of one 32-wide subgroup cover an LANE_W × (32 / LANE_W) patch of the 16×16 invocation
// grid (gpu.tune.gemmLanes: 4, 8 or 16). At 8 (the default) a subgroup's four reads of a k row
// of the slabs touch 8 vec4s of sB (128 contiguous bytes) and twice 4 of sA (64): one
// workgroup-memory wavefront each on NVIDIA, 4 per 64 FMAs, where 16 × 2 lanes (LANE_W = 16, the
// layout before 2026-11-26) read 256 bytes of sB per read, 6 wavefronts. Either is below the
// workgroup-memory bandwidth at full FMA rate, so the gain is in latency and is to be measured
// (runner/gpu-suite.sh gemm compares the layouts).
override LANE_W: u32 = 8u;

// Four consecutive elements of a row-major [rows, cols] operand starting at (r, c0), along its
// contiguous dimension; zeros past the edges so a partial slab sums like a full one.
fn loadRowA(r: u32, c0: u32, rows: u32, cols: u32) -> vec4f {
  if (A_VEC && r < rows && c0 + 3u < cols) { return a4[(r * cols + c0) / 4u]; }
  var v = vec4f();
  if (r < rows) {
    for (var j = 0u; j < 4u; j++) { if (c0 + j < cols) { v[j] = a[r * cols + c0 + j]; } }
  }
  return v;
}
fn loadRowB(r: u32, c0: u32, rows: u32, cols: u32) -> vec4f {
  if (B_VEC && r < rows && c0 + 3u < cols) { return b4[(r * cols + c0) / 4u]; }
  var v = vec4f();
  if (r < rows) {
    for (var j = 0u; j < 4u; j++) { if (c0 + j < cols) { v[j] = b[r * cols + c0 + j]; } }
  }
  return v;
}

// Vec4 e (< SLAB) of the A slab for k0: stored [M,K], row m = e / (BK/4), k = k0 + (e % (BK/4))·4
// .. +3; stored [K,M] (transposed), row k = k0 + e/32, m = (e%32)·4 .. +3.
fn fetchA(e: u32, m0: u32, k0: u32, ta: bool) -> vec4f {
  if (ta) { return loadRowA(k0 + e / 32u, m0 + (e % 32u) * 4u, p.K, p.M); }
  let q = BK / 4u;
  return loadRowA(m0 + e / q, k0 + (e % q) * 4u, p.M, p.K);
}
// Stores vec4 e of a fetched A slab into buffer `half` (0 or 1) of sA.
fn stashA(eIn: u32, v: vec4f, ta: bool, half: u32) {
  let e = eIn % SLAB;
  let at = (half % BUFFERS) * SLAB;
  if (ta) { sA[at + e] = v; return; }
  let q = BK / 4u;
  let m = e / q; let k = (e % q) * 4u;
  for (var j = 0u; j < 4u; j++) { sA[at + (k + j) * 32u + m / 4u][m % 4u] = v[j]; }
}
// The B slab: stored [K,N], row k = k0 + e/32, n = (e%32)·4 .. +3; stored [N,K] (nn.Linear's W
// as op(B) = Wᵀ), row n = e / (BK/4), k = k0 + (e % (BK/4))·4 .. +3.
fn fetchB(e: u32, n0: u32, k0: u32, tb: bool) -> vec4f {
  if (tb) {
    let q = BK / 4u;
    return loadRowB(n0 + e / q, k0 + (e % q) * 4u, p.N, p.K);
  }
  return loadRowB(k0 + e / 32u, n0 + (e % 32u) * 4u, p.K, p.N);
}
fn stashB(eIn: u32, v: vec4f, tb: bool, half: u32) {
  let e = eIn % SLAB;
  let at = (half % BUFFERS) * SLAB;
  if (!tb) { sB[at + e] = v; return; }
  let q = BK / 4u;
  let n = e / q; let k = (e % q) * 4u;
  for (var j = 0u; j < 4u; j++) { sB[at + (k + j) * 32u + n / 4u][n % 4u] = v[j]; }
}

fn gemmLarge(lid: vec3u, wid: vec3u, ta: bool, tb: bool, hasBias: bool) {
  let m0 = wid.y * 128u;
  let n0 = wid.x * 128u;
  // Invocation t (0..255; % bounds it for the range analysis) moves vec4s t, t + 256, … of each
  // slab, and computes the 8×8 block of output at (tx, ty) of the 16×16 grid: subgroup s = t / 32
  // covers the LANE_W × (32 / LANE_W) patch s of that grid, lane l = t % 32 its point l.
  let t = (lid.y % 16u) * 16u + lid.x % 16u;
  let patchesX = 16u / LANE_W;
  let tx = ((t / 32u) % patchesX) * LANE_W + (t % 32u) % LANE_W;
  let ty = ((t / 32u) / patchesX) * (32u / LANE_W) + (t % 32u) / LANE_W;
  // acc[2r + h]: row (r < 4 ? ty·4 + r : 64 + ty·4 + r − 4), columns h·64 + tx·4 .. +3.
  var acc: array<vec4f, 16>;
  var nextA: array<vec4f, MAX_LOADS>;
  var nextB: array<vec4f, MAX_LOADS>;
  for (var i = 0u; i < BK / 8u; i++) {
    nextA[i] = fetchA(t + 256u * i, m0, 0u, ta);
    nextB[i] = fetchB(t + 256u * i, n0, 0u, tb);
  }
  if (DOUBLE) {
    for (var i = 0u; i < BK / 8u; i++) {
      stashA(t + 256u * i, nextA[i], ta, 0u);
      stashB(t + 256u * i, nextB[i], tb, 0u);
    }
    workgroupBarrier();
  }
  // Slab s covers k0 = s·BK .. +BK−1. The counter runs to a constant bound and breaks at the
  // uniform one: Dawn can then prove the loop finite and adds no 64-bit countdown to it (it only
  // trusts constant bounds); a uniform bound cannot make the loop leave its uniform control flow.
  let slabs = (p.K + BK - 1u) / BK;
  for (var s = 0u; s < MAX_SLABS; s++) {
    if (s >= slabs) { break; }
    let k0 = s * BK;
    // Single buffer: store this slab, wait. Double: it was stored into buffer `half` during the
    // last slab.
    let half = s % BUFFERS;
    if (!DOUBLE) {
      for (var i = 0u; i < BK / 8u; i++) {
        stashA(t + 256u * i, nextA[i], ta, 0u);
        stashB(t + 256u * i, nextB[i], tb, 0u);
      }
      workgroupBarrier();
    }
    let more = k0 + BK < p.K;
    if (more) {
      for (var i = 0u; i < BK / 8u; i++) {
        nextA[i] = fetchA(t + 256u * i, m0, k0 + BK, ta);
        nextB[i] = fetchB(t + 256u * i, n0, k0 + BK, tb);
      }
    }
    let at = half * SLAB;
    for (var kk = 0u; kk < BK; kk++) {
      let lo = sA[at + kk * 32u + ty];
      let hi = sA[at + kk * 32u + 16u + ty];
      let b0 = sB[at + kk * 32u + tx];
      let b1 = sB[at + kk * 32u + 16u + tx];
      for (var r = 0u; r < 4u; r++) {
        acc[2u * r] = fma(vec4f(lo[r]), b0, acc[2u * r]);
        acc[2u * r + 1u] = fma(vec4f(lo[r]), b1, acc[2u * r + 1u]);
        acc[2u * r + 8u] = fma(vec4f(hi[r]), b0, acc[2u * r + 8u]);
        acc[2u * r + 9u] = fma(vec4f(hi[r]), b1, acc[2u * r + 9u]);
      }
    }
    // The other buffer was last read before the previous barrier: safe to fill now.
    if (DOUBLE && more) {
      for (var i = 0u; i < BK / 8u; i++) {
        stashA(t + 256u * i, nextA[i], ta, 1u - half);
        stashB(t + 256u * i, nextB[i], tb, 1u - half);
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let mLo = m0 + ty * 4u + r;
    store4(mLo, n0 + tx * 4u, acc[2u * r], hasBias);
    store4(mLo, n0 + 64u + tx * 4u, acc[2u * r + 1u], hasBias);
    store4(mLo + 64u, n0 + tx * 4u, acc[2u * r + 8u], hasBias);
    store4(mLo + 64u, n0 + 64u + tx * 4u, acc[2u * r + 9u], hasBias);
  }
}

// C = A·B with A [M,K], B [K,N].
@compute @workgroup_size(16, 16)
fn matmul_forward(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemmLarge(lid, wid, false, false, false);
}

// y = x·Wᵀ (+ bias): a = x [batch, in], b = W [out, in]; M = batch, N = out, K = in.
@compute @workgroup_size(16, 16)
fn linear_forward(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemmLarge(lid, wid, false, true, HAS_BIAS);
}

// dx = dy·W: a = dy [batch, out], b = W [out, in]; M = batch, N = in, K = out.
@compute @workgroup_size(16, 16)
fn linear_backward_input(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemmLarge(lid, wid, false, false, false);
}

// dW = dyᵀ·x: a = dy [batch, out] read transposed, b = x [batch, in]; M = out, N = in, K = batch.
@compute @workgroup_size(16, 16)
fn linear_backward_weight(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  gemmLarge(lid, wid, true, false, false);
}
