// conv2d forward: y[n, co, oy, ox] = bias[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · x[n, ci, oy·s + ky − p, ox·s + kx − p],
// on the register blocks of conv2d_segments.wgsl (rows, or columns for the 'gpu' set).
// Grid: (x, y) fold the segment blocks (WG segments each), z = split · blocks + block of 8 output
// channels. With several splits (the 'gpu' set, see src/kernels/conv2d.ts) each writes a partial
// output that conv2d_split_sum adds in split order; one split (chunk = Cin) writes y itself.
// #include "conv2d_segments.wgsl"

override HAS_BIAS: bool = false;

@group(0) @binding(0) var<storage, read> x: array<f32>;
// y, or with several splits their partial outputs [splits, N, Cout, Ho, Wo].
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
// packed (binding 3): conv2d_segments.wgsl.
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn source_at(i: u32) -> f32 { return x[i]; }
fn store_out(i: u32, v: f32) { y[i] = v; }

// The bias of output channels co0..co0+7 for the store: zero without a bias, and for every split
// but the first (the splits' partial outputs are added, the bias once).
fn forward_bias(co0: u32, split: u32) -> array<vec4f, 2> {
  if (!HAS_BIAS || split != 0u) { return array<vec4f, 2>(vec4f(0.0), vec4f(0.0)); }
  let i = channel_offsets(co0, p.cout - 1u, 1u);
  return array<vec4f, 2>(vec4f(bias[i[0].x], bias[i[0].y], bias[i[0].z], bias[i[0].w]),
                         vec4f(bias[i[1].x], bias[i[1].y], bias[i[1].z], bias[i[1].w]));
}

// Row segments: q.y is the output row, q.x0 the first of 8 output columns.
@compute @workgroup_size(WG)
fn conv2d_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                  @builtin(local_invocation_index) lane: u32) {
  let q = segment(block_index(wid, nwg) * WG + lane, p.n, p.ho, p.wo);
  // z = split · blocks + block of 8 output channels; split reduces ci in [ci0, ci1).
  let co_blocks = (p.cout + CB - 1u) / CB;
  let cob = wid.z % co_blocks;
  let split = wid.z / co_blocks;
  let ci0 = split * p.chunk;
  let co0 = cob * CB;
  let kk = KH * KW;
  let hw = p.h * p.w;
  var acc: Acc; // zero-initialised
  var plane = (q.n * p.cin + ci0) * hw;
  var slot = (cob * p.cin + ci0) * kk * 2u;
  for (var ci = ci0; ci < min(p.cin, ci0 + p.chunk); ci++) {
    for (var ky = 0u; ky < KH; ky++) {
      let iy = i32(q.y * S + ky) - i32(p.pad);
      let row_ok = u32(iy) < p.h;
      let row = select(0u, plane + u32(iy) * p.w, row_ok);
      // Taps kx ≡ m (mod S): pixel j + 1 at tap kx reads what pixel j reads at tap kx + S.
      for (var m = 0u; m < min(S, KW); m++) {
        let c = i32(q.x0 * S + m) - i32(p.pad); // column of pixel 0 at tap m
        var v = window(row, row_ok, c, i32(S), p.w);
        acc = tap(acc, v, slot + (ky * KW + m) * 2u);
        for (var kx = m + S; kx < KW; kx += S) {
          v = Window(vec4f(v.a.yzw, v.b.x), vec4f(v.b.yzw, ld(row, row_ok, c + i32(kx - m + 7u * S), p.w)));
          acc = tap(acc, v, slot + (ky * KW + kx) * 2u);
        }
      }
    }
    plane += hw;
    slot += kk * 2u;
  }
  let b = forward_bias(co0, split);
  let out_plane = p.ho * p.wo;
  let base = split * p.count + q.n * p.cout * out_plane + q.y * p.wo + q.x0;
  store_segment(q, base, 1u, out_plane, co0, p.cout, acc, b);
}

// Column segments: q.y is the output column, q.x0 the first of 8 output rows.
@compute @workgroup_size(WG)
fn conv2d_forward_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                          @builtin(local_invocation_index) lane: u32) {
  let q = column_segment(block_index(wid, nwg) * WG + lane, p.n, p.ho, p.wo);
  let co_blocks = (p.cout + CB - 1u) / CB;
  let cob = wid.z % co_blocks;
  let split = wid.z / co_blocks;
  let ci0 = split * p.chunk;
  let co0 = cob * CB;
  let kk = KH * KW;
  let hw = p.h * p.w;
  var acc: Acc;
  var plane = (q.n * p.cin + ci0) * hw;
  var slot = (cob * p.cin + ci0) * kk * 2u;
  for (var ci = ci0; ci < min(p.cin, ci0 + p.chunk); ci++) {
    for (var kx = 0u; kx < KW; kx++) {
      let ix = i32(q.y * S + kx) - i32(p.pad);
      let col_ok = u32(ix) < p.w;
      let col = select(0u, plane + u32(ix), col_ok);
      // Taps ky ≡ m (mod S): pixel j + 1 at tap ky reads what pixel j reads at tap ky + S.
      for (var m = 0u; m < min(S, KH); m++) {
        let r = i32(q.x0 * S + m) - i32(p.pad); // row of pixel 0 at tap m
        var v = column_window(col, col_ok, r, i32(S), p.h, p.w);
        acc = tap(acc, v, slot + (m * KW + kx) * 2u);
        for (var ky = m + S; ky < KH; ky += S) {
          v = Window(vec4f(v.a.yzw, v.b.x), vec4f(v.b.yzw, ldc(col, col_ok, r + i32(ky - m + 7u * S), p.h, p.w)));
          acc = tap(acc, v, slot + (ky * KW + kx) * 2u);
        }
      }
    }
    plane += hw;
    slot += kk * 2u;
  }
  let b = forward_bias(co0, split);
  let out_plane = p.ho * p.wo;
  let base = split * p.count + q.n * p.cout * out_plane + q.x0 * p.wo + q.y;
  store_segment(q, base, p.wo, out_plane, co0, p.cout, acc, b);
}
