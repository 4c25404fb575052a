// conv2d input gradient: dx[n, ci, iy, ix] = Σ over (co, ky, kx) with iy = oy·s + ky − p,
// ix = ox·s + kx − p, 0 ≤ oy < Ho, 0 ≤ ox < Wo of dy[n, co, oy, ox] · W[co, ci, ky, kx], on the
// register blocks of conv2d_segments.wgsl. With several splits of the Cout reduction (the 'gpu'
// set) each writes a partial dx that conv2d_split_sum adds in split order, as in the forward.
// #include "conv2d_segments.wgsl"

@group(0) @binding(0) var<storage, read> dy: array<f32>;
// dx, or with several splits their partial outputs [splits, N, Cin, H, W].
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
// packed (binding 3): conv2d_segments.wgsl.

fn source_at(i: u32) -> f32 { return dy[i]; }
fn store_out(i: u32, v: f32) { dx[i] = v; }

// Row segments. For stride s only the taps with ky ≡ iy + p (mod s) can reach an output row.
// Input pixels are therefore grouped into s² classes by (iy mod s, ix mod s), one class per
// workgroup, so every lane visits exactly the valid taps. Within a class, pixel ix' = ix div s at
// valid tap kx reads dy column ix' + (px + p − kx) / s: the next valid tap reads, for pixel j + 1,
// what this one read for pixel j — the same sliding window, moving the other way. Pixels whose
// taps all miss (e.g. the last rows of an odd input under stride 2) get an exact 0.
// Grid: (x, y) fold segment blocks (WG segments of one class), z = (split · S² + class) · ciBlocks +
// ci block.
@compute @workgroup_size(WG)
fn conv2d_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) lane: u32) {
  let ci_blocks = (p.cin + CB - 1u) / CB;
  // z = (split · S² + class) · blocks + block of 8 input channels; split reduces co in [co0, co1).
  let split = wid.z / (S * S * ci_blocks);
  let cls = (wid.z / ci_blocks) % (S * S);
  let cib = wid.z % ci_blocks;
  let co0 = split * p.chunk;
  let ci0 = cib * CB;
  let py = cls / S;
  let px = cls % S;
  // Rows iy = py, py + S, … < H and columns likewise.
  let rows = select(0u, (p.h - py + S - 1u) / S, p.h > py);
  let cols = select(0u, (p.w - px + S - 1u) / S, p.w > px);
  let q = segment(block_index(wid, nwg) * WG + lane, p.n, rows, cols);
  let kk = KH * KW;
  let plane_out = p.ho * p.wo;
  // First valid taps: ky ≡ py + p, kx ≡ px + p (mod S).
  let ky0 = (py + p.pad) % S;
  let kx0 = (px + p.pad) % S;
  // Column of pixel 0 at tap kx0; each further valid tap moves one column left.
  let c = i32(q.x0) + (i32(px + p.pad) - i32(kx0)) / i32(S);
  var acc: Acc; // zero-initialised
  var plane = (q.n * p.cout + co0) * plane_out;
  var slot = (cib * p.cout + co0) * kk * 2u;
  for (var co = co0; co < min(p.cout, co0 + p.chunk); co++) {
    for (var ky = ky0; ky < KH; ky += S) {
      // oy = iy' + (py + p − ky) / S, an exact division.
      let oy = i32(q.y) + (i32(py + p.pad) - i32(ky)) / i32(S);
      let row_ok = u32(oy) < p.ho;
      let row = select(0u, plane + u32(oy) * p.wo, row_ok);
      if (kx0 < KW) {
        var v = window(row, row_ok, c, 1, p.wo);
        acc = tap(acc, v, slot + (ky * KW + kx0) * 2u);
        for (var kx = kx0 + S; kx < KW; kx += S) {
          v = Window(vec4f(ld(row, row_ok, c - i32((kx - kx0) / S), p.wo), v.a.xyz), vec4f(v.a.w, v.b.xyz));
          acc = tap(acc, v, slot + (ky * KW + kx) * 2u);
        }
      }
    }
    plane += plane_out;
    slot += kk * 2u;
  }
  let hw = p.h * p.w;
  let base = split * p.count + q.n * p.cin * hw + (q.y * S + py) * p.w + q.x0 * S + px;
  store_segment(q, base, S, hw, ci0, p.cin, acc, array<vec4f, 2>(vec4f(0.0), vec4f(0.0)));
}

// Column segments, stride 1 only (src/kernels/conv2d.ts keeps the row kernel for stride 2). Each
// further tap ky reads, for pixel j + 1, what this one read for pixel j.
@compute @workgroup_size(WG)
fn conv2d_backward_input_columns(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                                 @builtin(local_invocation_index) lane: u32) {
  let ci_blocks = (p.cin + CB - 1u) / CB;
  let split = wid.z / ci_blocks;
  let cib = wid.z % ci_blocks;
  let co0 = split * p.chunk;
  let ci0 = cib * CB;
  let q = column_segment(block_index(wid, nwg) * WG + lane, p.n, p.h, p.w);
  let kk = KH * KW;
  let plane_out = p.ho * p.wo;
  var acc: Acc;
  var plane = (q.n * p.cout + co0) * plane_out;
  var slot = (cib * p.cout + co0) * kk * 2u;
  for (var co = co0; co < min(p.cout, co0 + p.chunk); co++) {
    for (var kx = 0u; kx < KW; kx++) {
      let ox = i32(q.y + p.pad) - i32(kx);
      let col_ok = u32(ox) < p.wo;
      let col = select(0u, plane + u32(ox), col_ok);
      let r = i32(q.x0 + p.pad); // dy row of pixel 0 at tap ky = 0
      var v = column_window(col, col_ok, r, 1, p.ho, p.wo);
      acc = tap(acc, v, slot + kx * 2u);
      for (var ky = 1u; ky < KH; ky++) {
        v = Window(vec4f(ldc(col, col_ok, r - i32(ky), p.ho, p.wo), v.a.xyz), vec4f(v.a.w, v.b.xyz));
        acc = tap(acc, v, slot + (ky * KW + kx) * 2u);
      }
    }
    plane += plane_out;
    slot += kk * 2u;
  }
  let hw = p.h * p.w;
  let base = split * p.count + q.n * p.cin * hw + q.x0 * p.w + q.y;
  store_segment(q, base, p.w, hw, ci0, p.cin, acc, array<vec4f, 2>(vec4f(0.0), vec4f(0.0)));
}
