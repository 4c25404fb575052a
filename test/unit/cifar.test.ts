// CIFAR-10 binary batches generated here (a few records per file, in a temp folder): records land
// as N×3×32×32 with the red plane first, batches concatenate in order, and broken or missing
// files are reported by name. The Python-pickle version: cifar-pickle.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CIFAR_PIXELS, CIFAR_RECORD, CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, encodeCifarBatch, parseCifarBatch } from '../../src/data/cifar.ts';
import { DataFormatError } from '../../src/data/dataset.ts';
import { DatasetNotFoundError, loadDataset, locateDataset } from '../../runner/data/datasets.ts';

/** Record r of file f: label (f + r) % 10, pixels encode (file, record, channel) so misplacement shows. */
function batch(f: number, n: number): Uint8Array {
  const labels = Uint8Array.from({ length: n }, (_, r) => (f + r) % 10);
  const images = new Uint8Array(n * CIFAR_PIXELS);
  for (let r = 0; r < n; r++) for (let c = 0; c < 3; c++) images.fill(f * 30 + r * 3 + c, r * CIFAR_PIXELS + c * 1024, r * CIFAR_PIXELS + (c + 1) * 1024);
  return encodeCifarBatch(images, labels);
}

function cifarDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-cifar-'));
  const dir = join(root, 'cifar10', 'cifar-10-batches-bin');
  mkdirSync(dir, { recursive: true });
  CIFAR10_TRAIN_FILES.forEach((f, i) => writeFileSync(join(dir, f), batch(i, 2)));
  writeFileSync(join(dir, CIFAR10_TEST_FILES[0]!), batch(7, 3));
  return root;
}
const NO_DEFAULTS = { env: {}, fallbackRoots: [] as string[] };

test('record layout: label byte, then 1024 R, 1024 G, 1024 B', () => {
  const rec = batch(0, 1);
  assert.equal(rec.length, CIFAR_RECORD);
  const b = parseCifarBatch(rec, 'one.bin');
  assert.deepEqual([b.labels[0], b.images[0], b.images[1023], b.images[1024], b.images[2048], b.images[3071]], [0, 0, 0, 1, 2, 2]);
});

test('loads <root>/cifar10/cifar-10-batches-bin: five train batches in order, test batch, 3×32×32', async (t) => {
  const root = cifarDir();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { train, test: tst } = await loadDataset('cifar10', { dataDir: root, ...NO_DEFAULTS });
  assert.deepEqual([train.count, train.channels, train.height, train.width, train.classes], [10, 3, 32, 32, 10]);
  assert.equal(tst.count, 3);
  assert.deepEqual([...train.labels], [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]);
  // example 7 = file 3 record 1: green plane holds 3·30 + 1·3 + 1
  assert.equal(train.images[7 * CIFAR_PIXELS + 1024 + 500], 94);
  assert.equal(tst.images[2 * CIFAR_PIXELS + 2048], 7 * 30 + 2 * 3 + 2);
});

test('gzipped batch files load the same', async (t) => {
  const root = cifarDir();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'cifar10', 'cifar-10-batches-bin');
  writeFileSync(join(dir, 'data_batch_2.bin.gz'), gzipSync(batch(1, 2)));
  unlinkSync(join(dir, 'data_batch_2.bin'));
  const { train } = await loadDataset('cifar10', { dataDir: root, ...NO_DEFAULTS });
  assert.deepEqual([...train.labels.subarray(2, 4)], [1, 2]);
});

test('length not a multiple of 3073 ⇒ error naming the file', async (t) => {
  assert.throws(() => parseCifarBatch(batch(0, 2).subarray(0, 5000), 'short.bin'),
    (e: unknown) => e instanceof DataFormatError && /^short\.bin: 5000 bytes is not a whole number of 3073-byte/.test(e.message));
  const root = cifarDir();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const bad = join(root, 'cifar10', 'cifar-10-batches-bin', 'data_batch_4.bin');
  writeFileSync(bad, batch(3, 2).subarray(1));
  await assert.rejects(loadDataset('cifar10', { dataDir: root, ...NO_DEFAULTS }), (e: Error) => e.message.startsWith(`${bad}: 6145 bytes`));
});

test('label > 9 ⇒ error naming the file and the record', () => {
  const b = batch(0, 3);
  b[2 * CIFAR_RECORD] = 10;
  assert.throws(() => parseCifarBatch(b, 'data_batch_9.bin'),
    (e: unknown) => e instanceof DataFormatError && /^data_batch_9\.bin: record 2 \(byte 6146\) has label 10, expected 0\.\.9/.test(e.message));
});

test('a missing batch file ⇒ error naming it and the folder that has the others', (t) => {
  const root = cifarDir();
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'cifar10', 'cifar-10-batches-bin');
  unlinkSync(join(dir, 'data_batch_3.bin'));
  assert.throws(() => locateDataset('cifar10', { dataDir: root, ...NO_DEFAULTS }),
    (e: unknown) => e instanceof DatasetNotFoundError && e.message.includes(`${dir} has some of the files but not data_batch_3.bin`));
});

test('an empty Python-version folder ⇒ the error lists it among the folders searched for the pickled batches', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-cifar-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'cifar10', 'cifar-10-batches-py'), { recursive: true });
  assert.throws(() => locateDataset('cifar10', { dataDir: root, ...NO_DEFAULTS }),
    (e: unknown) => e instanceof DatasetNotFoundError && /and for data_batch_1, .*test_batch \(each also as \.gz\) in:\n {2}\S*cifar-10-batches-py\n/.test(e.message) &&
      /cifar-10-binary\.tar\.gz/.test(e.message));
});

test('an archive not yet extracted ⇒ the error says how to extract it', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-cifar-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'cifar10'));
  writeFileSync(join(root, 'cifar10', 'cifar-10-python.tar.gz'), 'x');
  assert.throws(() => locateDataset('cifar10', { dataDir: root, ...NO_DEFAULTS }),
    (e: unknown) => e instanceof DatasetNotFoundError && e.message.includes(`cifar-10-python.tar.gz is not extracted yet: run \`tar xzf ${join(root, 'cifar10', 'cifar-10-python.tar.gz')} -C ${join(root, 'cifar10')}\``));
});
