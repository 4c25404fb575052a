// The register blocks of the forward and input-gradient kernels (conv2d_forward.wgsl,
// conv2d_backward_input.wgsl). Both are a correlation of a source (x, or dy) with the weights,
// which the including file reaches through
//   fn source_at(i: u32) -> f32     the source tensor's element i
//   fn store_out(i: u32, v: f32)    (conv2d_store.wgsl) its output
// Tuned for lavapipe (Mesa's CPU Vulkan driver, 2 threads × 8-lane SIMD): there, every
// storage-buffer load becomes a loop over the 8 lanes with a mask test and a bounds check, even
// when all lanes read the same address, and a workgroup barrier turns the kernel into a coroutine
// that keeps its live values in memory. So the kernels are built to load as little as possible per
// FMA, with no workgroup memory and no barriers:
//  * each invocation owns a segment of 8 consecutive output pixels of one row × 8 channels
//    (64 accumulators: spilling some costs less than loading more);
//  * the weights are first repacked (conv2d_pack.wgsl) so the 8 channels of one tap are two
//    aligned vec4 loads;
//  * along a row, the taps kx and kx + stride read the same source values shifted by one pixel,
//    so each further tap loads 1 new source value instead of 8 (a sliding window in registers);
//  * the kernel size and stride are pipeline constants (KH, KW, S), so the tap loops unroll and
//    the accumulators are masked/stored once per reduced channel rather than once per tap.
// The same kernels run on real GPUs with a larger workgroup (src/kernels/conv2d.ts picks it), and
// there with column segments (below).
// #include "conv2d_common.wgsl"
// #include "conv2d_store.wgsl"

// Packed weights: vec4 2·((b·R + r)·KH·KW + t) + h holds block channels 4h..4h+3 of block b for
// reduced channel r (of R) and tap t. forward: block = co, reduced = ci; input gradient: block =
// ci, reduced = co.
@group(0) @binding(3) var<storage, read> packed: array<vec4f>;

// 8 pixels × 8 channels of sums: l/h = channels 0–3 / 4–7 of pixels 0..7.
struct Acc {
  l0: vec4f, h0: vec4f, l1: vec4f, h1: vec4f, l2: vec4f, h2: vec4f, l3: vec4f, h3: vec4f,
  l4: vec4f, h4: vec4f, l5: vec4f, h5: vec4f, l6: vec4f, h6: vec4f, l7: vec4f, h7: vec4f,
}

// The 8 source values of a segment's pixels at one tap: a = pixels 0–3, b = pixels 4–7.
struct Window { a: vec4f, b: vec4f }

// acc += v ⊗ (packed[slot], packed[slot + 1]): 8 pixels × 8 channels.
fn tap(acc: Acc, v: Window, slot: u32) -> Acc {
  let wl = packed[slot];
  let wh = packed[slot + 1u];
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

// source[row + col], or 0 in the zero padding (row_ok false, or col outside [0, width)).
fn ld(row: u32, row_ok: bool, col: i32, width: u32) -> f32 {
  let ok = row_ok && u32(col) < width;
  return select(0.0, source_at(select(0u, row + u32(col), ok)), ok);
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

// ---- column segments (real GPUs) -----------------------------------------------------------------
// Row segments give each invocation 8 consecutive pixels of a row, so the 32 lanes of a warp read
// source values 8 pixels apart: every load instruction touches 8 cache lines. Column segments
// give each invocation 8 consecutive pixels of a column instead, with lanes running along the
// row, so a warp's load reads consecutive addresses (one or two cache lines). The arithmetic, the
// packed weights and the sliding window (now down a column) are the same; the taps of one reduced
// channel are added kx-major instead of ky-major (still one fixed order per output, so still
// reproducible, but not bitwise equal to the row kernels). src/kernels/conv2d.ts picks them for
// the 'gpu' set (gpu.tune.convColumns).

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

// source[col + row·width], or 0 in the zero padding.
fn ldc(col: u32, col_ok: bool, row: i32, height: u32, width: u32) -> f32 {
  let ok = col_ok && u32(row) < height;
  return select(0.0, source_at(select(0u, col + u32(row) * width, ok)), ok);
}

// The window of pixels 0..7 at rows r, r + step, …, r + 7·step of one column.
fn column_window(col: u32, col_ok: bool, r: i32, step: i32, height: u32, width: u32) -> Window {
  return Window(vec4f(ldc(col, col_ok, r, height, width), ldc(col, col_ok, r + step, height, width),
                      ldc(col, col_ok, r + 2 * step, height, width), ldc(col, col_ok, r + 3 * step, height, width)),
                vec4f(ldc(col, col_ok, r + 4 * step, height, width), ldc(col, col_ok, r + 5 * step, height, width),
                      ldc(col, col_ok, r + 6 * step, height, width), ldc(col, col_ok, r + 7 * step, height, width)));
}
