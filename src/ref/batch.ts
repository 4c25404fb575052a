// Reference batch assembly, written as OpenLTH/torchvision describe it: whole-image transforms
// applied one after another to u8 images, then ToTensor + Normalize in float32 (PyTorch's dtype).
// The GPU kernel instead maps each output pixel straight back to its source byte; agreeing
// bit-for-bit checks that composition. Random choices come from the same integer hash.

/** torchvision RandomCrop(32, padding=4): offsets in [0, 2·CROP_PAD]. */
export const CROP_PAD = 4;

const STREAM = { dy: 1, dx: 2, flip: 3, rotate: 4 } as const;

/** PCG-RXS-M-XS applied to one LCG step of v (Jarzynski & Olano, "Hash Functions for GPU Rendering"). */
export function pcgHash(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul((state >>> ((state >>> 28) + 4)) ^ state, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

function draw(seed: number, a: number, b: number, stream: number): number {
  // pcgHash reads its argument as 32 bits, so the signed results of ^ need no >>> 0.
  return pcgHash(pcgHash(pcgHash(pcgHash(seed) ^ a) ^ b) ^ stream);
}

export interface AugmentChoice { dy: number; dx: number; flip: boolean }

/** Crop offsets and flip for batch slot b at a training step. */
export function augmentChoice(seed: number, step: number, b: number): AugmentChoice {
  const span = 2 * CROP_PAD + 1;
  return {
    dy: draw(seed, step, b, STREAM.dy) % span,
    dx: draw(seed, step, b, STREAM.dx) % span,
    flip: draw(seed, step, b, STREAM.flip) >>> 31 === 1,
  };
}

/** Quarter turns (counter-clockwise) of an example in the rotation task: fixed per example, like OpenLTH's labels. */
export function rotationChoice(seed: number, example: number): number {
  return draw(seed, 0, example, STREAM.rotate) % 4;
}

/** A C×H×W u8 image. */
export interface Image { data: Uint8Array; c: number; h: number; w: number }

function mapPixels(src: Image, h: number, w: number, at: (c: number, y: number, x: number) => number): Image {
  const data = new Uint8Array(src.c * h * w);
  for (let c = 0; c < src.c; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[(c * h + y) * w + x] = at(c, y, x);
  return { data, c: src.c, h, w };
}

function pixel(im: Image, c: number, y: number, x: number): number {
  return im.data[(c * im.h + y) * im.w + x]!;
}

/** One 90° counter-clockwise turn: the top row becomes the left column, read bottom to top. */
export function rotate90(im: Image): Image {
  // New (y, x) shows old (x, w−1−y); the new image is w high and h wide.
  return mapPixels(im, im.w, im.h, (c, y, x) => pixel(im, c, x, im.w - 1 - y));
}

export function hflip(im: Image): Image {
  return mapPixels(im, im.h, im.w, (c, y, x) => pixel(im, c, y, im.w - 1 - x));
}

/** Zero-pad by `pad` on every side, then take the h×w window whose top-left is (dy, dx) in the padded image. */
export function padCrop(im: Image, pad: number, dy: number, dx: number): Image {
  const padded = mapPixels(im, im.h + 2 * pad, im.w + 2 * pad, (c, y, x) => {
    const sy = y - pad, sx = x - pad;
    return sy >= 0 && sy < im.h && sx >= 0 && sx < im.w ? pixel(im, c, sy, sx) : 0;
  });
  return mapPixels(im, im.h, im.w, (c, y, x) => pixel(padded, c, y + dy, x + dx));
}

/**
 * Downsample by f with a box average (rounded half up to a byte, as an 8-bit image stores it),
 * then upsample back by nearest neighbour. OpenLTH resizes with PIL's default filter instead;
 * the box keeps the same resolution loss with exact integer arithmetic.
 */
export function blur(im: Image, f: number): Image {
  const sh = im.h / f, sw = im.w / f;
  const small = mapPixels(im, sh, sw, (c, y, x) => {
    let sum = 0;
    for (let u = 0; u < f; u++) for (let v = 0; v < f; v++) sum += pixel(im, c, y * f + u, x * f + v);
    return Math.floor((sum + Math.floor(f * f / 2)) / (f * f));
  });
  return mapPixels(im, im.h, im.w, (c, y, x) => pixel(small, c, Math.floor(y / f), Math.floor(x / f)));
}

/** ToTensor then Normalize, each operation rounded to float32 as PyTorch does. */
export function normalise(byte: number, mean: number, std: number): number {
  const f = Math.fround;
  return f(f(f(byte / 255) - f(mean)) / f(std));
}

export interface RefDataset {
  /** N×C×H×W bytes. */
  images: Uint8Array;
  labels: ArrayLike<number>;
  count: number;
  channels: number;
  height: number;
  width: number;
}

export interface RefBatchOptions {
  batch: number;
  offset: number;
  step: number;
  seed: number;
  augment: boolean;
  rotation: boolean;
  blurFactor: number;
  mean: readonly number[];
  std: readonly number[];
}

export function example(d: RefDataset, i: number): Image {
  const n = d.channels * d.height * d.width;
  return { data: d.images.slice(i * n, (i + 1) * n), c: d.channels, h: d.height, w: d.width };
}

/** The batch order[offset .. offset+batch) after OpenLTH's transforms, in their order. */
export function gatherBatch(d: RefDataset, order: ArrayLike<number>, o: RefBatchOptions): { x: Float32Array; labels: Uint32Array } {
  const n = d.channels * d.height * d.width;
  const x = new Float32Array(o.batch * n);
  const labels = new Uint32Array(o.batch);
  for (let b = 0; b < o.batch; b++) {
    const src = order[o.offset + b]!;
    let im = example(d, src);
    labels[b] = d.labels[src]!;
    // Joint (image, label) transform first, as in OpenLTH's ImageDataset.__getitem__.
    if (o.rotation) {
      const r = rotationChoice(o.seed, src);
      for (let k = 0; k < r; k++) im = rotate90(im);
      labels[b] = r;
    }
    if (o.augment) {
      // OpenLTH's CIFAR-10 list: RandomHorizontalFlip, then RandomCrop(32, 4).
      const a = augmentChoice(o.seed, o.step, b);
      if (a.flip) im = hflip(im);
      im = padCrop(im, CROP_PAD, a.dy, a.dx);
    }
    if (o.blurFactor > 1) im = blur(im, o.blurFactor);
    const plane = d.height * d.width;
    im.data.forEach((v, i) => { x[b * n + i] = normalise(v, o.mean[Math.floor(i / plane)]!, o.std[Math.floor(i / plane)]!); });
  }
  return { x, labels };
}
