// 2-D convolution, PyTorch nn.Conv2d conventions: NCHW activations, weight [Cout, Cin, kh, kw],
// zero padding `pad`, stride `stride`, Ho = floor((H + 2·pad − kh) / stride) + 1.
//
// Tuned for lavapipe (Mesa's CPU Vulkan driver, 2 threads × 8-lane SIMD): there, every
// storage-buffer load becomes a loop over the 8 lanes with a mask test and a bounds check, even
// when all lanes read the same address, and a workgroup barrier turns the kernel into a coroutine
// that keeps its live values in memory. So: no workgroup memory, no barriers, and large register
// blocks (8 pixels × 8 channels per invocation) so that each loaded value feeds many FMAs. The same
// kernels run on real GPUs with a larger workgroup (src/kernels/conv2d.ts picks it).
// Deterministic: no atomics; every output element is summed in a fixed order by one invocation,
// and the weight/bias gradients' long reductions are split into fixed chunks whose partial sums a
// second pass (conv2d_backward_sum) adds in order.

override WG: u32 = 64;
override HAS_BIAS: bool = false;

// Every field is a u32 (see src/kernels/conv2d.ts for the single writer of this layout).
struct Params {
  n: u32, cin: u32, h: u32, w: u32,
  cout: u32, ho: u32, wo: u32, kh: u32,
  kw: u32, stride: u32, pad: u32,
  // conv2d_backward_weight: images per split. conv2d_backward_sum: number of partials to add.
  // forward / backward_input: reduced channels (Cin / Cout) per split (all of them: one split).
  chunk: u32,
  // conv2d_backward_sum / conv2d_backward_bias: number of outputs. forward / backward_input: the
  // elements of one split's output (split z writes out[z·count ..]).
  count: u32,
}

// Binding roles per entry point (each entry's pipeline layout lists exactly the ones it uses,
// which is why the ones every entry needs come first):
//   pack_*:          src = weight,   out = packed weights (wp layout, below)
//   forward:         src = x,        out = y,                                  wp = packed, bias
//   backward_input:  src = dy,       out = dx,                                 wp = packed
//   backward_weight: src = x,        out = partials [splits, Cout·Cin·kh·kw], wt = dy
//   backward_bias:   src = dy,       out = partials [N, Cout]
//   backward_sum:    src = partials, out = result
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> wt: array<f32>; // backward_weight only (wp below for the others)
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// Channels per workgroup (the register block's channel width; two vec4 accumulators).
const CB: u32 = 8u;

// Flat block index of a workgroup grid folded over x and y (see grid in src/kernels/conv2d.ts).
fn block_index(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }

// Offsets of 8 consecutive channels starting at c0, each clamped to the last channel so a partial
// block at the end still loads in range (its extra channels are never stored).
fn channel_offsets(c0: u32, last: u32, stride: u32) -> array<vec4u, 2> {
  let c = min(vec4u(c0) + vec4u(0u, 1u, 2u, 3u), vec4u(last));
  let d = min(vec4u(c0) + vec4u(4u, 5u, 6u, 7u), vec4u(last));
  return array<vec4u, 2>(c * stride, d * stride);
}

// Stores the 8 channels of one pixel: out[base + (c0 + c)·plane] for c0 + c < limit.
fn store8(ok: bool, base: u32, plane: u32, c0: u32, limit: u32, lo: vec4f, hi: vec4f) {
  if (!ok) { return; }
  for (var c = 0u; c < CB; c++) {
    if (c0 + c >= limit) { return; }
    out[base + (c0 + c) * plane] = select(hi[c % 4u], lo[c % 4u], c < 4u);
  }
}

// ---- forward and input gradient ---------------------------------------------------------------
// Both are a correlation of a source (x, or dy) with the weight tensor. Mesa's lavapipe turns
// every storage-buffer load into a per-lane loop with bounds checks, which costs far more than
// the arithmetic, so these kernels are built to load as little as possible per FMA:
//  * each invocation owns a segment of 8 consecutive output pixels of one row × 8 channels
//    (64 accumulators: spilling some costs less than loading more);
//  * the weights are first repacked (conv2d_pack_*) so the 8 channels of one tap are two aligned
//    vec4 loads;
//  * along a row, the taps kx and kx + stride read the same source values shifted by one pixel,
//    so each further tap loads 1 new source value instead of 8 (a sliding window in registers);
//  * the kernel size and stride are pipeline constants (KH, KW, S), so the tap loops unroll and
//    the accumulators are masked/stored once per reduced channel rather than once per tap.
// No workgroup memory and no barriers (on lavapipe a barrier turns the whole kernel into a
// coroutine whose live values are spilled).
override KH: u32 = 3;
override KW: u32 = 3;
override S: u32 = 1;

// Packed weights: vec4 2·((b·R + r)·KH·KW + t) + h holds block channels 4h..4h+3 of block b for
// reduced channel r (of R) and tap t. forward: block = co, reduced = ci; input gradient: block =
// ci, reduced = co.
@group(0) @binding(3) var<storage, read> wp: array<vec4f>;

// 8 pixels × 8 channels of sums: l/h = channels 0–3 / 4–7 of pixels 0..7.
struct Acc {
  l0: vec4f, h0: vec4f, l1: vec4f, h1: vec4f, l2: vec4f, h2: vec4f, l3: vec4f, h3: vec4f,
  l4: vec4f, h4: vec4f, l5: vec4f, h5: vec4f, l6: vec4f, h6: vec4f, l7: vec4f, h7: vec4f,
}

// The 8 source values of a segment's pixels at one tap: a = pixels 0–3, b = pixels 4–7.
struct Window { a: vec4f, b: vec4f }

// acc += v ⊗ (wp[slot], wp[slot + 1]): 8 pixels × 8 channels.
fn tap(acc: Acc, v: Window, slot: u32) -> Acc {
  let wl = wp[slot];
  let wh = wp[slot + 1u];
  return Acc(fma(vec4f(v.a.x), wl, acc.l0), fma(vec4f(v.a.x), wh, acc.h0),
             fma(vec4f(v.a.y), wl, acc.l1), fma(vec4f(v.a.y), wh, acc.h1),
             fma(vec4f(v.a.z), wl, acc.l2), fma(vec4f(v.a.z), wh, acc.h2),
             fma(vec4f(v.a.w), wl, acc.l3), fma(vec4f(v.a.w), wh, acc.h3),
             fma(vec4f(v.b.x), wl, acc.l4), fma(vec4f(v.b.x), wh, acc.h4),
             fma(vec4f(v.b.y), wl, acc.l5), fma(vec4f(v.b.y), wh, acc.h5),
             fma(vec4f(v.b.z), wl, acc.l6), fma(vec4f(v.b.z), wh, acc.h6),
             fma(vec4f(v.b.w), wl, acc.l7), fma(vec4f(v.b.w), wh, acc.h7));
}

struct Segment { ok: bool, n: u32, y: u32, x0: u32, cols: u32 }

// Pixels per segment (the register block's pixel width).
const SEG: u32 = 8u;

// Segment g of an [n, rows, cols] grid cut into rows of ceil(cols / SEG) segments of SEG pixels.
// Out-of-range g (or an empty grid) gives ok = false and harmless coordinates.
fn segment(g: u32, n: u32, rows: u32, cols: u32) -> Segment {
  let per_row = max((cols + SEG - 1u) / SEG, 1u);
  let total = n * rows * ((cols + SEG - 1u) / SEG);
  let gg = min(g, max(total, 1u) - 1u);
  let plane = max(rows, 1u) * per_row;
  let r = gg % plane;
  return Segment(g < total, gg / plane, r / per_row, (r % per_row) * SEG, cols);
}

// src[row + col], or 0 in the zero padding (row_ok false, or col outside [0, width)).
fn ld(row: u32, row_ok: bool, col: i32, width: u32) -> f32 {
  let ok = row_ok && u32(col) < width;
  return select(0.0, src[select(0u, row + u32(col), ok)], ok);
}

// The window of pixels 0..7 at columns c, c + step, …, c + 7·step.
fn window(row: u32, row_ok: bool, c: i32, step: i32, width: u32) -> Window {
  return Window(vec4f(ld(row, row_ok, c, width), ld(row, row_ok, c + step, width),
                      ld(row, row_ok, c + 2 * step, width), ld(row, row_ok, c + 3 * step, width)),
                vec4f(ld(row, row_ok, c + 4 * step, width), ld(row, row_ok, c + 5 * step, width),
                      ld(row, row_ok, c + 6 * step, width), ld(row, row_ok, c + 7 * step, width)));
}

// Stores the segment: pixel j's 8 channels (plus b) at out[base + j·step + (c0 + c)·plane] for the
// pixels inside the row (x0 + j < cols) and the channels that exist (c0 + c < limit).
fn store_segment(q: Segment, base: u32, step: u32, plane: u32, c0: u32, limit: u32, acc: Acc, b: array<vec4f, 2>) {
  let l = array<vec4f, 8>(acc.l0, acc.l1, acc.l2, acc.l3, acc.l4, acc.l5, acc.l6, acc.l7);
  let h = array<vec4f, 8>(acc.h0, acc.h1, acc.h2, acc.h3, acc.h4, acc.h5, acc.h6, acc.h7);
  for (var j = 0u; j < SEG; j++) {
    store8(q.ok && q.x0 + j < q.cols, base + j * step, plane, c0, limit, l[j] + b[0], h[j] + b[1]);
  }
}

// Writes vec4 i of the packed weights (wp layout) from the weight tensor in src: blocks of output
// channels for the forward kernel (blocks_of_cout), of input channels for the input gradient.
fn pack(i: u32, blocks_of_cout: bool) {
  let kk = KH * KW;
  let reduced = select(p.cout, p.cin, blocks_of_cout);
  let width = select(p.cin, p.cout, blocks_of_cout);
  let total = ((width + CB - 1u) / CB) * reduced * kk * 2u;
  if (i >= total) { return; }
  let t = (i / 2u) % kk;
  let r = (i / (2u * kk)) % reduced;
  let b = vec4u((i / (2u * kk * reduced)) * CB + (i & 1u) * 4u) + vec4u(0u, 1u, 2u, 3u);
  let bc = min(b, vec4u(width - 1u));
  var idx: vec4u;
  if (blocks_of_cout) { idx = (bc * p.cin + r) * kk + t; } else { idx = (r * p.cin + bc) * kk + t; }
  // Channels past the end of the last block get weight 0 (their outputs are never stored).
  out[4u * i] = select(0.0, src[idx.x], b.x < width);
  out[4u * i + 1u] = select(0.0, src[idx.y], b.y < width);
  out[4u * i + 2u] = select(0.0, src[idx.z], b.z < width);
  out[4u * i + 3u] = select(0.0, src[idx.w], b.w < width);
}

// packed (out) ← W (src) for conv2d_forward: blocks of 8 output channels. One invocation per vec4.
@compute @workgroup_size(WG)
fn conv2d_pack_forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lane: u32) {
  pack(block_index(wid, nwg) * WG + lane, true);
}

// packed (out) ← W (src) for conv2d_backward_input: blocks of 8 input channels.
@compute @workgroup_size(WG)
fn conv2d_pack_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                              @builtin(local_invocation_index) lane: u32) {
  pack(block_index(wid, nwg) * WG + lane, false);
}

// The bias of output channels co0..co0+7 for the forward kernels' store: zero without a bias, and
// for every split but the first (the splits' partial outputs are added, the bias once).
fn forward_bias(co0: u32, split: u32) -> array<vec4f, 2> {
  if (!HAS_BIAS || split != 0u) { return array<vec4f, 2>(vec4f(0.0), vec4f(0.0)); }
  let i = channel_offsets(co0, p.cout - 1u, 1u);
  return array<vec4f, 2>(vec4f(bias[i[0].x], bias[i[0].y], bias[i[0].z], bias[i[0].w]),
                         vec4f(bias[i[1].x], bias[i[1].y], bias[i[1].z], bias[i[1].w]));
}

// y[n, co, oy, ox] = bias[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · x[n, ci, oy·s + ky − p, ox·s + kx − p]
// Grid: (x, y) fold the segment blocks (WG segments each), z = split · blocks + block of 8 output
// channels. With several splits (the 'gpu' set, see src/kernels/conv2d.ts) each writes a partial
// output that conv2d_backward_sum adds in split order; one split (chunk = Cin) writes y itself.
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

// ---- column-segment variants (real GPUs) ---------------------------------------------------------
// The kernels above give each invocation 8 consecutive pixels of a row, so the 32 lanes of a warp
// read source values 8 pixels apart: every load instruction touches 8 cache lines. These variants
// give each invocation 8 consecutive pixels of a column instead, with lanes running along the row,
// so a warp's load reads consecutive addresses (one or two cache lines). The arithmetic, the packed
// weights and the sliding window (now down a column) are the same; the taps of one reduced channel
// are added kx-major instead of ky-major (still one fixed order per output, so still reproducible,
// but not bitwise equal to the row kernels). src/kernels/conv2d.ts picks them for the 'gpu' set
// (gpu.tune.convColumns).

// Column segment g of an [n, rows, cols] grid cut into blocks of SEG rows, columns fastest. As a
// Segment, y is the column, x0 the first row and cols the row count, so store_segment's bound test
// still reads "pixel j exists".
fn column_segment(g: u32, n: u32, rows: u32, cols: u32) -> Segment {
  let blocks = (rows + SEG - 1u) / SEG;
  let total = n * blocks * cols;
  let gg = min(g, max(total, 1u) - 1u);
  let per_image = max(blocks * cols, 1u);
  let r = gg % per_image;
  return Segment(g < total, gg / per_image, r % max(cols, 1u), (r / max(cols, 1u)) * SEG, rows);
}

// src[col + row·width], or 0 in the zero padding.
fn ldc(col: u32, col_ok: bool, row: i32, height: u32, width: u32) -> f32 {
  let ok = col_ok && u32(row) < height;
  return select(0.0, src[select(0u, col + u32(row) * width, ok)], ok);
}

// The window of pixels 0..7 at rows r, r + step, …, r + 7·step of one column.
fn column_window(col: u32, col_ok: bool, r: i32, step: i32, height: u32, width: u32) -> Window {
  return Window(vec4f(ldc(col, col_ok, r, height, width), ldc(col, col_ok, r + step, height, width),
                      ldc(col, col_ok, r + 2 * step, height, width), ldc(col, col_ok, r + 3 * step, height, width)),
                vec4f(ldc(col, col_ok, r + 4 * step, height, width), ldc(col, col_ok, r + 5 * step, height, width),
                      ldc(col, col_ok, r + 6 * step, height, width), ldc(col, col_ok, r + 7 * step, height, width)));
}

// conv2d_forward with column segments: q.y is the output column, q.x0 the first of 8 output rows.
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

// conv2d_backward_input with column segments, stride 1 only (src/kernels/conv2d.ts keeps the row
// kernel for stride 2): dx[n, ci, iy, ix] = Σ_{co, ky, kx} dy[n, co, iy + p − ky, ix + p − kx] ·
// W[co, ci, ky, kx]. Each further tap ky reads, for pixel j + 1, what this one read for pixel j.
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

// dx[n, ci, iy, ix] = Σ over (co, ky, kx) with iy = oy·s + ky − p, ix = ox·s + kx − p, 0 ≤ oy < Ho,
// 0 ≤ ox < Wo of dy[n, co, oy, ox] · W[co, ci, ky, kx].
// For stride s only the taps with ky ≡ iy + p (mod s) can reach an output row. Input pixels are
// therefore grouped into s² classes by (iy mod s, ix mod s), one class per workgroup, so every
// lane visits exactly the valid taps. Within a class, pixel ix' = ix div s at valid tap kx reads
// dy column ix' + (px + p − kx) / s: the next valid tap reads, for pixel j + 1, what this one read
// for pixel j — the same sliding window, moving the other way. Pixels whose taps all miss (e.g.
// the last rows of an odd input under stride 2) get an exact 0.
// Grid: (x, y) fold segment blocks (WG segments of one class), z = (split · S² + class) · ciBlocks +
// ci block; splits of the Cout reduction as in the forward kernel.
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

// ---- weight and bias gradients ----------------------------------------------------------------

// 2 k-values × 8 channels of partial sums; lo = channels 0..3, hi = channels 4..7.
struct Acc2 { lo0: vec4f, hi0: vec4f, lo1: vec4f, hi1: vec4f }

// Partial weight gradient of split z (images [z·chunk, (z+1)·chunk)):
// partials[z, co, k] = Σ_{n in split, oy, ox} dy[n, co, oy, ox] · x[n, ci, oy·s + ky − p, ox·s + kx − p]
// with k = (ci, ky, kx) flattened. Lanes vary over k (two k per invocation, WG apart), the
// workgroup owns 8 output channels: each loaded dy value feeds 2 FMAs, each x value 8.
// Grid: x = k blocks (2·WG each), y = blocks of 8 output channels, z = split.
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
        let x0 = vec4f(select(0.0, src[select(0u, row0 + u32(ix0), v0)], v0));
        let x1 = vec4f(select(0.0, src[select(0u, row1 + u32(ix1), v1)], v1));
        let d = dy_img + oy * p.wo + ox;
        let gl = vec4f(wt[dco[0].x + d], wt[dco[0].y + d], wt[dco[0].z + d], wt[dco[0].w + d]);
        let gh = vec4f(wt[dco[1].x + d], wt[dco[1].y + d], wt[dco[1].z + d], wt[dco[1].w + d]);
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

// partials[n, co] = Σ_{oy, ox} dy[n, co, oy, ox], one invocation per (n, co), in pixel order.
@compute @workgroup_size(WG)
fn conv2d_backward_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                        @builtin(local_invocation_index) lane: u32) {
  let i = block_index(wid, nwg) * WG + lane;
  if (i >= p.count) { return; }
  let plane = p.ho * p.wo;
  var sum = 0.0;
  for (var j = 0u; j < plane; j++) { sum += src[i * plane + j]; }
  out[i] = sum;
}

// result[i] = Σ_{z < chunk} partials[z·count + i], added in z order (the fixed second pass of the
// split reductions above).
@compute @workgroup_size(WG)
fn conv2d_backward_sum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) lane: u32) {
  let i = block_index(wid, nwg) * WG + lane;
  if (i >= p.count) { return; }
  var sum = 0.0;
  for (var z = 0u; z < p.chunk; z++) { sum += src[z * p.count + i]; }
  out[i] = sum;
}
