// The batch reference checked on its own: the hash draws are spread as torchvision's would be,
// and each image transform does what its name says. (The GPU kernel is checked against this
// reference in src/check/cases/batch.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from '../../src/ref/batch.ts';
import { packImageShards } from '../../src/kernels/batch.ts';
import { Rng } from '../../src/rng.ts';

function randomImage(rng: Rng, c: number, h: number, w: number): ref.Image {
  return { data: Uint8Array.from({ length: c * h * w }, () => rng.u32() & 255), c, h, w };
}

const DRAWS = 20_000;

test('crop offsets cover [0, 8] in both axes, about uniformly', () => {
  const counts = { dy: new Array<number>(9).fill(0), dx: new Array<number>(9).fill(0) };
  for (let i = 0; i < DRAWS; i++) {
    const a = ref.augmentChoice(7, Math.floor(i / 128), i % 128);
    counts.dy[a.dy]!++;
    counts.dx[a.dx]!++;
  }
  for (const [axis, c] of Object.entries(counts)) {
    assert.equal(c.length, 9, `${axis}: offsets outside [0, 8]`);
    // Expected DRAWS/9 ≈ 2222 each, σ ≈ 44.
    for (const [v, n] of c.entries()) assert.ok(Math.abs(n - DRAWS / 9) < 250, `${axis}=${v} drawn ${n} times of ${DRAWS}`);
  }
});

test('flip frequency is about 0.5 and independent of the crop', () => {
  let flips = 0, flipsAtZero = 0, zero = 0;
  for (let i = 0; i < DRAWS; i++) {
    const a = ref.augmentChoice(99, 1000 + Math.floor(i / 64), i % 64);
    if (a.flip) flips++;
    if (a.dx === 0) { zero++; if (a.flip) flipsAtZero++; }
  }
  assert.ok(Math.abs(flips / DRAWS - 0.5) < 0.02, `flip frequency ${flips / DRAWS}`);
  assert.ok(Math.abs(flipsAtZero / zero - 0.5) < 0.06, `flip frequency given dx = 0: ${flipsAtZero / zero}`);
});

test('draws change with seed, step and batch slot', () => {
  const key = (s: number, t: number, b: number) => JSON.stringify(Array.from({ length: 16 }, (_, j) => ref.augmentChoice(s, t, b + j)));
  assert.notEqual(key(1, 0, 0), key(2, 0, 0));
  assert.notEqual(key(1, 0, 0), key(1, 1, 0));
  assert.notEqual(key(1, 0, 0), key(1, 0, 16));
  assert.equal(key(1, 5, 3), key(1, 5, 3));
});

test('rotation choices cover 0..3 about uniformly and are fixed per example', () => {
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < DRAWS; i++) counts[ref.rotationChoice(3, i)]!++;
  for (const n of counts) assert.ok(Math.abs(n - DRAWS / 4) < 300, `rotation counts ${counts}`);
  assert.equal(ref.rotationChoice(3, 17), ref.rotationChoice(3, 17));
});

test('pcgHash matches u32 arithmetic done with BigInt', () => {
  const M = 2n ** 32n;
  const big = (v: bigint) => {
    const state = (v * 747796405n + 2891336453n) % M;
    const word = (((state >> ((state >> 28n) + 4n)) ^ state) * 277803737n) % M;
    return Number((word >> 22n) ^ word);
  };
  for (const v of [0, 1, 2, 12345, 0x7fffffff, 0x80000000, 0xffffffff]) assert.equal(ref.pcgHash(v), big(BigInt(v)), `pcgHash(${v})`);
});

test('one quarter turn is counter-clockwise; four are the identity', () => {
  // 2×3 image   a b c   turns into 3×2   c f
  //             d e f                    b e
  //                                      a d
  const im: ref.Image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), c: 1, h: 2, w: 3 };
  assert.deepEqual([...ref.rotate90(im).data], [3, 6, 2, 5, 1, 4]);
  const sq = randomImage(new Rng(1), 3, 5, 5);
  let r = sq;
  for (let k = 0; k < 4; k++) r = ref.rotate90(r);
  assert.deepEqual(r, sq);
  assert.notDeepEqual(ref.rotate90(sq), sq);
});

test('flip mirrors columns; twice is the identity', () => {
  const im: ref.Image = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), c: 1, h: 2, w: 3 };
  assert.deepEqual([...ref.hflip(im).data], [3, 2, 1, 6, 5, 4]);
  assert.deepEqual(ref.hflip(ref.hflip(im)), im);
});

test('pad-and-crop: centred is the identity, corners shift in zero padding', () => {
  const im = randomImage(new Rng(2), 2, 6, 6);
  assert.deepEqual(ref.padCrop(im, 4, 4, 4), im);
  const tl = ref.padCrop(im, 4, 0, 0);
  // Top-left window: rows and columns 0..3 are padding; (4, 4) shows the original (0, 0).
  assert.equal(tl.data[0], 0);
  assert.equal(tl.data[4 * 6 + 4], im.data[0]);
  assert.equal(tl.data[3 * 6 + 5], 0);
  const br = ref.padCrop(im, 4, 8, 8);
  assert.equal(br.data[1 * 36 + 1 * 6 + 1], im.data[1 * 36 + 5 * 6 + 5]);
  assert.equal(br.data[1 * 36 + 2 * 6 + 2], 0);
});

test('blur of a constant image is that constant; blocks become their rounded mean', () => {
  for (const v of [0, 1, 128, 255]) {
    const im: ref.Image = { data: new Uint8Array(3 * 32 * 32).fill(v), c: 3, h: 32, w: 32 };
    assert.deepEqual(ref.blur(im, 4), im);
  }
  // 2×2 blocks of a 1×2×4 image: [1 2 | 9 9] / [3 3 | 9 10] → means 2.25 → 2 and 9.25 → 9.
  const im: ref.Image = { data: Uint8Array.from([1, 2, 9, 9, 3, 3, 9, 10]), c: 1, h: 2, w: 4 };
  assert.deepEqual([...ref.blur(im, 2).data], [2, 2, 9, 9, 2, 2, 9, 9]);
  // A mean of exactly .5 rounds up: (1 + 2 + 1 + 2) / 4 = 1.5 → 2.
  assert.deepEqual([...ref.blur({ data: Uint8Array.from([1, 2, 1, 2]), c: 1, h: 2, w: 2 }, 2).data], [2, 2, 2, 2]);
});

test('normalise rounds each step in float32 like ToTensor + Normalize', () => {
  const f = Math.fround;
  assert.equal(ref.normalise(0, 0.5, 0.25), -2);
  assert.equal(ref.normalise(255, 0.5, 0.5), 1);
  assert.equal(ref.normalise(77, 0.1307, 0.3081), f(f(f(77 / 255) - f(0.1307)) / f(0.3081)));
});

test('gatherBatch: rotation relabels, no augmentation keeps the example', () => {
  const rng = new Rng(5);
  const count = 8, c = 1, h = 4, w = 4;
  const images = Uint8Array.from({ length: count * c * h * w }, () => rng.u32() & 255);
  const d: ref.RefDataset = { images, labels: [9, 8, 7, 6, 5, 4, 3, 2], count, channels: c, height: h, width: w };
  const o: ref.RefBatchOptions = { batch: 3, offset: 1, step: 0, seed: 1, augment: false, rotation: false, blurFactor: 1, mean: [0], std: [1] };
  const order = [4, 0, 6, 2];
  const plain = ref.gatherBatch(d, order, o);
  assert.deepEqual([...plain.labels], [9, 3, 7]);
  assert.deepEqual([...plain.x.subarray(0, 16)], [...ref.example(d, 0).data].map((v) => Math.fround(v / 255)));
  const rot = ref.gatherBatch(d, order, { ...o, rotation: true });
  assert.deepEqual([...rot.labels], [0, 6, 2].map((i) => ref.rotationChoice(1, i)));
});

test('packImageShards keeps every byte at word i>>2, bits 8·(i&3), split on example boundaries', () => {
  const rng = new Rng(6);
  const bytes = Uint8Array.from({ length: 13 * 70 }, () => rng.u32() & 255);
  const one = packImageShards(bytes, 70, 1 << 20);
  assert.equal(one.length, 1);
  const two = packImageShards(bytes, 70, 492);
  assert.deepEqual(two.map((s) => s.examples), [7, 6]);
  let at = 0;
  for (const s of two) {
    // Read back through little-endian words, as the shader does.
    const view = new DataView(s.words.buffer);
    for (let i = 0; i < s.examples * 70; i++, at++) {
      assert.equal((view.getUint32((i >> 2) * 4, true) >>> (8 * (i & 3))) & 255, bytes[at], `byte ${at}`);
    }
    assert.ok(s.words.length * 4 <= 492);
  }
  assert.throws(() => packImageShards(bytes, 70, 400), RangeError);
});
