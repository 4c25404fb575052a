enable subgroups;
// The GEMM of linear.wgsl, C[M,N] = op(A)[M,K]·op(B)[K,N] (+ bias, then optionally ReLU), for CPU
// drivers that run a subgroup as the SIMD lanes of one vector (lavapipe: 8 lanes of AVX2;
// SwiftShader: 4). Only compiled where the device has the `subgroups` feature (Gpu.compileAll).
//
// Why: lavapipe emits every storage load as a per-lane loop (exec-mask test, bounds check,
// scalar load, insert), so loads, not FMAs, bound the register body in linear.wgsl, and there
// every lane loads the same rows of op(A). Here one workgroup is exactly one subgroup: its lanes
// share ROWS rows of op(A) and each lane owns 4 columns. Per 4 steps of k, each lane loads
// ROWS/8 vec4s of op(A) (its share of the block, then subgroupShuffle with a constant lane, one
// vpermd on AVX2, hands every row to every lane) and 4 vec4s of op(B) (its own columns), for
// ROWS·16 FMAs. With ROWS = 32 that is 8 vector loads per 512 FMAs, against 16 per 256 in the
// register body. The accumulators spill to the stack; a spill is a vector load/store for all
// lanes at once, far cheaper than a gathered load.
//
// Same order of additions as linear.wgsl: each output sums its k terms in increasing k within
// one invocation (a chain of fma), so results are bitwise reproducible on an adapter.
//
// Operands are read as vec4s (a4, b4) along their contiguous dimension; the host uses this body
// only when K, and M (A read transposed) or N (B not transposed), are multiples of 4.

// #include "linear_common.wgsl"

// Lanes per subgroup = invocations per workgroup (the host sets it from the adapter's fixed
// subgroup size: 4 or 8).
override SG: u32 = 8;
// Rows of C per workgroup, in octets of 8: 4 (32 rows), or 2 (16 rows) for short matrices.
// Measured on lavapipe for the 784→300 layer: 32 rows beat 16 and 64 (more rows share each
// load of op(B) but spill more accumulators).
override OCTETS: u32 = 4;

// Vector j (0..7) of octet o of the op(A) block for rows m0.. and k..k+3:
// not transposed: op(A)[m0 + 8o + j, k..k+3] (a row, 4 steps of k);
// transposed (A stored [K, M]): op(A)[m0 + 8o + 4(j%2) .. +3, k + j/2] (4 rows, one k).
// Rows past M are clamped to valid ones; their results are never stored.
fn vecA(m0: u32, k: u32, o: u32, j: u32, ta: bool) -> vec4f {
  if (ta) {
    let row = min(m0 + 8u * o + 4u * (j % 2u), p.M - 4u);
    return a4[(k + j / 2u) * (p.M >> 2u) + (row >> 2u)];
  }
  return a4[min(m0 + 8u * o + j, p.M - 1u) * (p.K >> 2u) + (k >> 2u)];
}

// The 8 vectors of an octet, each loaded by one lane: lane l holds vectors l (and l + SG when
// SG = 4), and a shuffle with a constant source lane gives vector j to every lane.
fn octetA(m0: u32, k: u32, o: u32, lane: u32, ta: bool) -> array<vec4f, 8> {
  let w0 = vecA(m0, k, o, lane, ta);
  var w1 = w0;
  if (SG < 8u) { w1 = vecA(m0, k, o, lane + SG, ta); }
  var v: array<vec4f, 8>;
  v[0] = pick(w0, w1, 0u); v[1] = pick(w0, w1, 1u); v[2] = pick(w0, w1, 2u); v[3] = pick(w0, w1, 3u);
  v[4] = pick(w0, w1, 4u); v[5] = pick(w0, w1, 5u); v[6] = pick(w0, w1, 6u); v[7] = pick(w0, w1, 7u);
  return v;
}
fn pick(w0: vec4f, w1: vec4f, j: u32) -> vec4f {
  if (j < SG) { return subgroupShuffle(w0, j); }
  return subgroupShuffle(w1, j - SG);
}

// op(B)[k + i, n0 .. n0+3] for i < 4. Columns past N are clamped and never stored.
fn blockB(n0: u32, k: u32, tb: bool) -> array<vec4f, 4> {
  if (tb) {
    // B stored [N, K] (nn.Linear's W): each column is contiguous in k; transpose a 4×4 block.
    let s = p.K >> 2u; let q = k >> 2u; let last = p.N - 1u;
    let t0 = b4[min(n0, last) * s + q]; let t1 = b4[min(n0 + 1u, last) * s + q];
    let t2 = b4[min(n0 + 2u, last) * s + q]; let t3 = b4[min(n0 + 3u, last) * s + q];
    return array<vec4f, 4>(vec4f(t0.x, t1.x, t2.x, t3.x), vec4f(t0.y, t1.y, t2.y, t3.y),
                           vec4f(t0.z, t1.z, t2.z, t3.z), vec4f(t0.w, t1.w, t2.w, t3.w));
  }
  // B stored [K, N]: rows of op(B) are contiguous in n.
  let s = p.N >> 2u; let q = min(n0, p.N - 4u) >> 2u;
  return array<vec4f, 4>(b4[k * s + q], b4[(k + 1u) * s + q], b4[(k + 2u) * s + q], b4[(k + 3u) * s + q]);
}

// acc + Σ_i a[i]·b[i]: four k steps for one row and four columns, chained in k order.
fn mac4(acc: vec4f, a: vec4f, b: array<vec4f, 4>) -> vec4f {
  return fma(vec4f(a.w), b[3], fma(vec4f(a.z), b[2], fma(vec4f(a.y), b[1], fma(vec4f(a.x), b[0], acc))));
}

// Adds 4 steps of k to the 8 rows of octet o.
fn macOctet(acc: array<vec4f, 8>, m0: u32, k: u32, o: u32, lane: u32, b: array<vec4f, 4>, ta: bool) -> array<vec4f, 8> {
  let v = octetA(m0, k, o, lane, ta);
  var r = acc;
  if (ta) {
    // v[2i + h] holds rows 4h..4h+3 of the octet at step k + i: regroup each row's 4 steps.
    for (var h = 0u; h < 2u; h++) {
      let s0 = v[h]; let s1 = v[2u + h]; let s2 = v[4u + h]; let s3 = v[6u + h];
      r[4u * h] = mac4(r[4u * h], vec4f(s0.x, s1.x, s2.x, s3.x), b);
      r[4u * h + 1u] = mac4(r[4u * h + 1u], vec4f(s0.y, s1.y, s2.y, s3.y), b);
      r[4u * h + 2u] = mac4(r[4u * h + 2u], vec4f(s0.z, s1.z, s2.z, s3.z), b);
      r[4u * h + 3u] = mac4(r[4u * h + 3u], vec4f(s0.w, s1.w, s2.w, s3.w), b);
    }
  } else {
    r[0] = mac4(r[0], v[0], b); r[1] = mac4(r[1], v[1], b); r[2] = mac4(r[2], v[2], b); r[3] = mac4(r[3], v[3], b);
    r[4] = mac4(r[4], v[4], b); r[5] = mac4(r[5], v[5], b); r[6] = mac4(r[6], v[6], b); r[7] = mac4(r[7], v[7], b);
  }
  return r;
}

// Writes the octet's rows for the lane's columns n0..n0+3 that exist.
fn storeOctet(acc: array<vec4f, 8>, m0: u32, o: u32, n0: u32, hasBias: bool) {
  for (var i = 0u; i < 8u; i++) { store4(m0 + 8u * o + i, n0, acc[i], hasBias); }
}

// No early return: the shuffles need every lane of the subgroup.
fn gemm(wid: vec3u, lane: u32, ta: bool, tb: bool, hasBias: bool) {
  let m0 = wid.y * 8u * OCTETS;
  let n0 = (wid.x * SG + lane) * 4u;
  var c0: array<vec4f, 8>; var c1: array<vec4f, 8>; var c2: array<vec4f, 8>; var c3: array<vec4f, 8>;
  for (var k = 0u; k < p.K; k += 4u) {
    let b = blockB(n0, k, tb);
    c0 = macOctet(c0, m0, k, 0u, lane, b, ta); c1 = macOctet(c1, m0, k, 1u, lane, b, ta);
    if (OCTETS > 2u) { c2 = macOctet(c2, m0, k, 2u, lane, b, ta); c3 = macOctet(c3, m0, k, 3u, lane, b, ta); }
  }
  storeOctet(c0, m0, 0u, n0, hasBias); storeOctet(c1, m0, 1u, n0, hasBias);
  if (OCTETS > 2u) { storeOctet(c2, m0, 2u, n0, hasBias); storeOctet(c3, m0, 3u, n0, hasBias); }
}

// Entry points and operand layouts as in linear.wgsl.
@compute @workgroup_size(SG)
fn matmul_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  gemm(wid, lid.x, false, false, false);
}

@compute @workgroup_size(SG)
fn linear_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  gemm(wid, lid.x, false, true, HAS_BIAS);
}

@compute @workgroup_size(SG)
fn linear_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  gemm(wid, lid.x, false, false, false);
}

@compute @workgroup_size(SG)
fn linear_backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  gemm(wid, lid.x, true, false, false);
}
