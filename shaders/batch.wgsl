// Batch assembly on the GPU: the whole dataset lives on the device as packed bytes, and every step
// one dispatch gathers the batch order[offset .. offset+batch) into normalised f32 NCHW plus u32
// labels, applying the OpenLTH transforms on the way. Composition, in OpenLTH's order
// (joint transforms, then image transforms, then ToTensor + Normalize):
//   rotate by r·90° counter-clockwise (self-supervised task; label := r)
//   → horizontal flip → zero-pad by PAD and crop back to H×W at (dy, dx)   (CIFAR augmentation)
//   → blur: box-average f×f blocks (rounded to a byte, like PIL's 8-bit intermediate), nearest upsample
//   → normalise through a per-channel 256-entry table.
// Each invocation computes one output value by mapping its coordinates back through the
// transforms to source bytes, so nothing is staged in memory and no invocation talks to another.
//
// Random choices are integer hashes, identical on every adapter and in src/ref/batch.ts:
//   crop/flip: hash(seed, step, b)  — fresh per step and batch slot;
//   rotation:  hash(seed, example)  — fixed per example, as OpenLTH draws rotation labels once.

override WG: u32 = 256;
// torchvision RandomCrop(32, padding=4): crop offsets dy, dx ∈ [0, 2·PAD].
override PAD: i32 = 4;

// The image shape, blur and transform switches are fixed per dispatch: as override constants
// the compiler sees them, so divisions by H, W, C·H·W become multiplications (a CPU driver runs
// a vector integer division as one scalar division per lane) and disabled transforms vanish.
override CHANNELS: u32;
override HEIGHT: u32;
override WIDTH: u32;
// Box size of the blur; 1 = no blur.
override BLUR: u32;
override AUGMENT: bool;
override ROTATE: bool;

struct Params {
  batch: u32,
  // Examples [0, split) are in images_lo, [split, count) in images_hi (see src/kernels/batch.ts).
  split: u32,
  seed: u32,
  // Rewritten every step by setStep, without rebuilding the dispatch.
  offset: u32, step: u32,
}

// Bytes of N×C×H×W images, 4 per word, little-endian; each shard packed from its first example.
@group(0) @binding(0) var<storage, read> images_lo: array<u32>;
@group(0) @binding(1) var<storage, read> images_hi: array<u32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
// table[c·256 + byte] = (byte/255 − mean[c]) / std[c], rounded in f32 on the host exactly as
// PyTorch does: no float arithmetic happens here, so the output is bitwise the same everywhere.
@group(0) @binding(4) var<storage, read> table: array<f32>;
@group(0) @binding(5) var<storage, read_write> out_x: array<f32>;
@group(0) @binding(6) var<storage, read_write> out_labels: array<u32>;
@group(0) @binding(7) var<uniform> p: Params;

const STREAM_DY = 1u;
const STREAM_DX = 2u;
const STREAM_FLIP = 3u;
const STREAM_ROTATE = 4u;

// PCG-RXS-M-XS output permutation of one LCG step (Jarzynski & Olano 2020): a bijection on u32.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// An independent u32 for each (seed, a, b, stream).
fn draw(seed: u32, a: u32, b: u32, stream: u32) -> u32 {
  return pcg(pcg(pcg(pcg(seed) ^ a) ^ b) ^ stream);
}

struct Choice { dy: i32, dx: i32, flip: bool, r: u32 }

// Raw byte of example src at (c, y, x).
fn raw_pixel(src: u32, c: u32, y: u32, x: u32) -> u32 {
  let chw = CHANNELS * HEIGHT * WIDTH;
  let within = (c * HEIGHT + y) * WIDTH + x;
  var i: u32;
  var word: u32;
  if (src < p.split) {
    i = src * chw + within;
    word = images_lo[i >> 2u];
  } else {
    i = (src - p.split) * chw + within;
    word = images_hi[i >> 2u];
  }
  return (word >> (8u * (i & 3u))) & 255u;
}

// Byte at (y, x) of the rotated, flipped, padded-and-cropped image (before blur).
fn augmented_pixel(src: u32, c: u32, y: i32, x: i32, ch: Choice) -> u32 {
  let h = i32(HEIGHT);
  let w = i32(WIDTH);
  let yc = y + ch.dy - PAD;
  let xc = x + ch.dx - PAD;
  // The padding is 0 in the raw image, so it normalises to (0 − mean)/std like a black pixel.
  if (yc < 0 || yc >= h || xc < 0 || xc >= w) { return 0u; }
  let xf = select(xc, w - 1 - xc, ch.flip);
  // Rotated image R(y, x) for a square side s: r=1 is I(x, s−1−y), r=2 is I(s−1−y, s−1−x), r=3 is I(s−1−x, y).
  let last = h - 1;
  var ys = yc;
  var xs = xf;
  switch ch.r {
    case 1u: { ys = xf; xs = last - yc; }
    case 2u: { ys = last - yc; xs = last - xf; }
    case 3u: { ys = last - xf; xs = yc; }
    default: {}
  }
  return raw_pixel(src, c, u32(ys), u32(xs));
}

@compute @workgroup_size(WG)
fn batch_gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  let plane = HEIGHT * WIDTH;
  let chw = CHANNELS * plane;
  if (i >= p.batch * chw) { return; }
  let b = i / chw;
  let c = (i / plane) % CHANNELS;
  let y = (i / WIDTH) % HEIGHT;
  let x = i % WIDTH;
  let src = order[p.offset + b];

  // Without augmentation the crop window sits exactly on the image: dy = dx = PAD.
  var ch = Choice(PAD, PAD, false, 0u);
  if (AUGMENT) {
    let span = u32(2 * PAD + 1);
    ch.dy = i32(draw(p.seed, p.step, b, STREAM_DY) % span);
    ch.dx = i32(draw(p.seed, p.step, b, STREAM_DX) % span);
    ch.flip = (draw(p.seed, p.step, b, STREAM_FLIP) >> 31u) == 1u;
  }
  if (ROTATE) { ch.r = draw(p.seed, 0u, src, STREAM_ROTATE) % 4u; }

  // Blur: the mean of the f×f block holding (y, x); f divides H and W (checked by the wrapper).
  let f = BLUR;
  let y0 = (y / f) * f;
  let x0 = (x / f) * f;
  var sum = 0u;
  for (var u = 0u; u < f; u++) {
    for (var v = 0u; v < f; v++) {
      sum += augmented_pixel(src, c, i32(y0 + u), i32(x0 + v), ch);
    }
  }
  let area = f * f;
  let level = (sum + area / 2u) / area;
  out_x[i] = table[c * 256u + level];
  if (i % chw == 0u) { out_labels[b] = select(labels[src], ch.r, ROTATE); }
}
