// IDX parsing on files built here byte by byte: the happy path keeps every pixel and label in
// place, and each kind of broken file is rejected with a message naming the file and the fault.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { encodeIdx, idxDataset, parseIdx, parseIdxImages, parseIdxLabels } from '../../src/data/idx.ts';
import { DataFormatError } from '../../src/data/dataset.ts';

const N = 5, H = 3, W = 4;
const PIXELS = Uint8Array.from({ length: N * H * W }, (_, i) => (i * 37 + 11) % 256);
const LABELS = Uint8Array.from([3, 0, 9, 1, 3]);
const images = () => encodeIdx([N, H, W], PIXELS);
const labels = () => encodeIdx([N], LABELS);

function pair(img: Uint8Array, lab: Uint8Array, classes?: number) {
  return idxDataset({ name: 'toy/train', images: { bytes: img, name: 'imgs.idx' }, labels: { bytes: lab, name: 'labs.idx' }, classes });
}

test('header is big-endian magic 0x00000803 then dims; round trip keeps pixels and labels', () => {
  const bytes = images();
  assert.deepEqual([...bytes.subarray(0, 16)], [0, 0, 8, 3, 0, 0, 0, N, 0, 0, 0, H, 0, 0, 0, W]);
  const ds = pair(bytes, labels());
  assert.deepEqual([ds.count, ds.channels, ds.height, ds.width, ds.classes], [N, 1, H, W, 10]);
  assert.deepEqual([...ds.images], [...PIXELS]);
  assert.deepEqual([...ds.labels], [...LABELS]);
  assert.equal(ds.name, 'toy/train');
});

test('parsing a view at a non-zero offset of a larger buffer reads the right bytes', () => {
  const padded = new Uint8Array(3 + images().length);
  padded.set(images(), 3);
  const img = parseIdxImages(padded.subarray(3), 'offset.idx');
  assert.deepEqual([img.count, img.height, img.width], [N, H, W]);
  assert.deepEqual([...img.pixels], [...PIXELS]);
});

const fails = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof DataFormatError && re.test(e.message));

test('truncated data, truncated header, trailing bytes ⇒ error with file name and byte counts', () => {
  fails(() => parseIdxImages(images().subarray(0, images().length - 1), 'cut.idx'), /^cut\.idx: header dims 5×3×4 need 60 data bytes but the file has 59 \(truncated\)/);
  fails(() => parseIdxImages(images().subarray(0, 10), 'hdr.idx'), /^hdr\.idx: truncated IDX header \(10 bytes, expected 16/);
  fails(() => parseIdxImages(new Uint8Array(2), 'tiny.idx'), /^tiny\.idx: truncated IDX file/);
  const long = new Uint8Array(images().length + 4);
  long.set(images());
  fails(() => parseIdxImages(long, 'long.idx'), /^long\.idx: .*has 64 \(trailing bytes\)/);
});

test('wrong magic (labels file passed as images, wrong element type) ⇒ error naming both magics', () => {
  fails(() => parseIdxImages(labels(), 'labs.idx'), /^labs\.idx: IDX magic is 0x00000801, expected 0x00000803 .*images file/);
  fails(() => parseIdxLabels(images(), 'imgs.idx'), /^imgs\.idx: IDX magic is 0x00000803, expected 0x00000801 .*labels file/);
  const floats = images();
  floats[2] = 0x0d; // IDX float32 element type
  fails(() => parseIdx(floats, 'float.idx', 3), /^float\.idx: IDX magic is 0x00000d03/);
});

test('gzip bytes handed to the parser ⇒ error saying to decompress', () => {
  fails(() => parseIdxImages(new Uint8Array(gzipSync(images())), 'x.gz'), /^x\.gz: is gzip-compressed/);
});

test('image/label count mismatch ⇒ error naming both files', () => {
  fails(() => pair(images(), encodeIdx([4], LABELS.subarray(0, 4))), /imgs\.idx has 5 images but labs\.idx has 4 labels/);
});

test('label ≥ classes ⇒ error naming the file, the label and its index', () => {
  const bad = LABELS.slice();
  bad[2] = 10;
  fails(() => pair(images(), encodeIdx([N], bad)), /^labs\.idx: label 10 at index 2 is not a class \(expected 0\.\.9\)/);
  fails(() => pair(images(), labels(), 4), /^labs\.idx: label 9 at index 2/);
  assert.equal(pair(images(), labels(), 10).classes, 10);
});
