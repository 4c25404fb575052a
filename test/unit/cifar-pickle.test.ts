// CIFAR-10's Python version (torchvision's cifar-10-batches-py), hardening item 15: pickled
// batches generated here as Python 2's cPickle wrote them (test/cifar-pickle-writer.ts) read to
// the same images and labels as the binary version of the same records; the folder is found
// where torchvision and OpenLTH put it; truncated, corrupt or foreign pickles are one error line
// naming the file, and nothing in a pickle is ever executed. With a python3 that has numpy, the
// generated files are also checked to be real pickles, and Python's own pickles are read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { CIFAR_PIXELS, CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES, encodeCifarBatch } from '../../src/data/cifar.ts';
import { CIFAR10_PICKLE_TEST_FILES, CIFAR10_PICKLE_TRAIN_FILES, parseCifarPickleBatch } from '../../src/data/cifar-pickle.ts';
import { DataFormatError } from '../../src/data/dataset.ts';
import { readPickle } from '../../src/data/pickle.ts';
import { DatasetNotFoundError, loadDataset, locateDataset } from '../../runner/data/datasets.ts';
import { encodeCifarPickle } from '../cifar-pickle-writer.ts';
import { tempDir } from '../temp-dir.ts';
import { runCommand } from '../cli.ts';

const NO_DEFAULTS = { env: {}, fallbackRoots: [] as string[] };

/** Batch f's n records: label (f + r) % 10, pixels encode (file, record, channel, position). */
function records(f: number, n: number): { images: Uint8Array; labels: Uint8Array } {
  const labels = Uint8Array.from({ length: n }, (_, r) => (f + r) % 10);
  const images = Uint8Array.from({ length: n * CIFAR_PIXELS }, (_, i) => (f * 31 + Math.floor(i / 1024) * 7 + i) & 0xff);
  return { images, labels };
}

/** A data root with CIFAR-10 in the given forms (same records in each). */
function cifarRoot(forms: ('py' | 'bin')[], n = 2): string {
  const root = tempDir('earlyphase-cifar-py-');
  for (const form of forms) {
    const dir = join(root, 'cifar10', `cifar-10-batches-${form}`);
    mkdirSync(dir, { recursive: true });
    const names = form === 'py' ? [...CIFAR10_PICKLE_TRAIN_FILES, ...CIFAR10_PICKLE_TEST_FILES] : [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES];
    names.forEach((name, f) => {
      const { images, labels } = records(f, f === 5 ? n + 1 : n);
      writeFileSync(join(dir, name), form === 'py' ? encodeCifarPickle(images, labels) : encodeCifarBatch(images, labels));
    });
  }
  return root;
}

/** `f` throws a one-line DataFormatError starting with `file` and matching `re`. */
function rejects(f: () => unknown, file: string, re: RegExp, what = re.source): void {
  assert.throws(f, (e: unknown) => e instanceof DataFormatError && e.message.startsWith(`${file}: `) && re.test(e.message) && !e.message.includes('\n'), what);
}

test('a pickled batch reads to its images (planar RGB rows) and labels', () => {
  const { images, labels } = records(3, 4);
  const b = parseCifarPickleBatch(encodeCifarPickle(images, labels), 'data_batch_4');
  assert.deepEqual(b.labels, labels);
  assert.deepEqual(b.images, images);
});

test('a full-size batch (10,000 images, labels past APPENDS batches of 1,000, LONG_BINPUT memo) reads', () => {
  const { images, labels } = records(1, 10_000);
  const b = parseCifarPickleBatch(encodeCifarPickle(images, labels), 'data_batch_2');
  assert.equal(b.labels.length, 10_000);
  assert.deepEqual(b.labels, labels);
  assert.ok(Buffer.from(b.images).equals(Buffer.from(images)));
});

test('<root>/cifar10/cifar-10-batches-py loads as the binary version of the same records does', async () => {
  const py = await loadDataset('cifar10', { dataDir: cifarRoot(['py']), ...NO_DEFAULTS });
  const bin = await loadDataset('cifar10', { dataDir: cifarRoot(['bin']), ...NO_DEFAULTS });
  for (const split of ['train', 'test'] as const) {
    assert.deepEqual([py[split].count, py[split].channels, py[split].height, py[split].width], [bin[split].count, 3, 32, 32]);
    assert.deepEqual(py[split].labels, bin[split].labels);
    assert.deepEqual(py[split].images, bin[split].images);
  }
  assert.equal(py.train.count, 10);
  assert.deepEqual(py.source!.files.map((f) => f.role), ['train/data_batch_1', 'train/data_batch_2', 'train/data_batch_3', 'train/data_batch_4', 'train/data_batch_5', 'test/test_batch']);
});

test('found as torchvision downloads it (<root>/cifar-10-batches-py too); the binary version wins where both are', () => {
  const root = cifarRoot(['py']);
  const f = locateDataset('cifar10', { dataDir: root, ...NO_DEFAULTS });
  assert.deepEqual([f.dir, f.format, f.test], [join(root, 'cifar10', 'cifar-10-batches-py'), 'cifar-pickle', [join(root, 'cifar10', 'cifar-10-batches-py', 'test_batch')]]);
  assert.equal(locateDataset('cifar10', { dataDir: join(root, 'cifar10'), ...NO_DEFAULTS }).format, 'cifar-pickle');
  const both = cifarRoot(['py', 'bin']);
  assert.deepEqual([locateDataset('cifar10', { dataDir: both, ...NO_DEFAULTS }).format], ['cifar-binary']);
});

test('gzipped pickles load the same', async () => {
  const root = cifarRoot(['py']);
  const file = join(root, 'cifar10', 'cifar-10-batches-py', 'data_batch_2');
  writeFileSync(`${file}.gz`, gzipSync(readFileSync(file)));
  unlinkSync(file);
  const { train } = await loadDataset('cifar10', { dataDir: root, ...NO_DEFAULTS });
  assert.deepEqual([...train.labels.subarray(2, 4)], [1, 2]);
});

test('a missing Python batch file ⇒ error naming it and the folder; the error lists both versions', () => {
  const root = cifarRoot(['py']);
  const dir = join(root, 'cifar10', 'cifar-10-batches-py');
  unlinkSync(join(dir, 'test_batch'));
  assert.throws(() => locateDataset('cifar10', { dataDir: root, ...NO_DEFAULTS }), (e: unknown) => e instanceof DatasetNotFoundError &&
    e.message.includes(`${dir} has some of the files but not test_batch (or .gz)`) &&
    /and for data_batch_1, data_batch_2, .*test_batch \(each also as \.gz\) in:/.test(e.message) &&
    /cifar-10-python\.tar\.gz/.test(e.message) && /earlyphase data fetch cifar10/.test(e.message));
});

test('truncated anywhere ⇒ DataFormatError naming the file (never another error)', () => {
  const { images, labels } = records(0, 2);
  const bytes = encodeCifarPickle(images, labels);
  for (let cut = 0; cut < bytes.length; cut++) {
    const file = 'cifar-10-batches-py/data_batch_1';
    rejects(() => parseCifarPickleBatch(bytes.subarray(0, cut), file), file, /truncated|empty file|ends before/, `cut at ${cut}`);
  }
});

test('random corruption either reads or is a DataFormatError naming the file', () => {
  const { images, labels } = records(0, 1);
  const good = encodeCifarPickle(images, labels);
  let seed = 12345;
  const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed % n; };
  // Flips in the header part (before the 3,072 image bytes) hit opcodes and lengths, not pixels.
  const header = good.length - CIFAR_PIXELS - 200;
  for (let i = 0; i < 3000; i++) {
    const b = Uint8Array.from(good);
    for (let k = 0; k <= rand(3); k++) b[rand(header)] = rand(256);
    try { parseCifarPickleBatch(b, 'test_batch'); } catch (e) {
      assert.ok(e instanceof DataFormatError && e.message.startsWith('test_batch: ') && !e.message.includes('\n'), `mutation ${i}: ${e}`);
    }
  }
});

test('foreign pickles: other globals, opcodes, protocols are refused and never run', () => {
  // os.system('touch …') as a pickle: GLOBAL, then REDUCE on a tuple — refused at the GLOBAL.
  const evil = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cos\nsystem\n', 'latin1'), Buffer.from([0x55, 4]), Buffer.from('true'), Buffer.from([0x85, 0x52, 0x2e])]);
  rejects(() => readPickle(evil, 'evil'), 'evil', /GLOBAL "os\.system"; only numpy's array and dtype are allowed \(GLOBAL at byte 2\)/);
  rejects(() => readPickle(Uint8Array.from([0x80, 4, 0x4e, 0x2e]), 'p4'), 'p4', /pickle protocol 4; torchvision's batches are protocol 2/);
  rejects(() => readPickle(Uint8Array.from([0x80, 2, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0x2e]), 'float'), 'float', /opcode 0x47 \('G'\) is not one torchvision's CIFAR-10 batches use \(opcode at byte 2\)/);
  rejects(() => readPickle(Uint8Array.from([0x80, 2, 0x4e, 0x2e, 0]), 'tail'), 'tail', /1 bytes after the pickle's STOP/);
  rejects(() => readPickle(Uint8Array.from([0x80, 2, 0x68, 7, 0x2e]), 'memo'), 'memo', /memo entry 7 was never stored/);
  rejects(() => readPickle(Uint8Array.from([0x80, 2, 0x54, 0xff, 0xff, 0xff, 0x7f]), 'huge'), 'huge', /needs 2147483647 more bytes but the file ends 0 bytes later/);
  rejects(() => readPickle(Uint8Array.from([0x80, 2, ...new Array(100_001).fill(0x28), 0x2e]), 'marks'), 'marks', /more than 100000 values on the stack/);
});

test('well-formed pickles that are not CIFAR-10 batches ⇒ what is wrong, naming the file', () => {
  const { images, labels } = records(0, 2);
  const bad: [string, Uint8Array, RegExp][] = [
    ['label 10', encodeCifarPickle(images, [3, 10]), /label 1 is 10, expected 0\.\.9/],
    ['labels count', encodeCifarPickle(images, [3]), /'data' holds 6144 bytes, its shape \[1, 3072\] needs 3072/],
    ['float data', encodeCifarPickle(images, labels, { dtype: '<f4' }), /'data' has dtype "<f4", not uint8/],
    ['shape', encodeCifarPickle(images, labels, { shape: [2, 32, 32, 3] }), /'data' has shape \[2, 32, 32, 3\]/],
    ['shape/labels', encodeCifarPickle(images, labels, { shape: [1, 3072] }), /'data' holds 6144 bytes/],
    ['None', Uint8Array.from([0x80, 2, 0x4e, 0x2e]), /the pickle holds None, not a dict/],
    ['empty dict', Uint8Array.from([0x80, 2, 0x7d, 0x2e]), /'data' is nothing/],
  ];
  for (const [what, bytes, re] of bad) rejects(() => parseCifarPickleBatch(bytes, 'data_batch_3'), 'data_batch_3', re, what);
  rejects(() => parseCifarPickleBatch(new Uint8Array(0), 'data_batch_3'), 'data_batch_3', /empty file/);
});

test('a corrupt batch stops loadDataset with the file named', async () => {
  const root = cifarRoot(['py']);
  const file = join(root, 'cifar10', 'cifar-10-batches-py', 'data_batch_4');
  writeFileSync(file, readFileSync(file).subarray(0, 500));
  await assert.rejects(loadDataset('cifar10', { dataDir: root, ...NO_DEFAULTS }), (e: Error) => e instanceof DataFormatError && e.message.startsWith(`${file}: `));
});

// Optional: real Python. The generated file must unpickle (as torchvision does it) to the same
// arrays, and a pickle Python writes (protocol 3: bytes and unicode opcodes) must read here too.
let numpyPython: string | undefined;
for (const p of [process.env.EARLYPHASE_PYTHON, '/usr/bin/python3', 'python3']) {
  if (p && (await runCommand(p, ['-c', 'import numpy'], { timeoutMs: 60_000 }).catch(() => null))?.status === 0) { numpyPython = p; break; }
}
test('cross-check with Python\'s pickle and numpy', { skip: numpyPython ? false : 'no python3 with numpy (optional check)' }, async () => {
  const dir = tempDir('earlyphase-cifar-pickle-');
  const { images, labels } = records(2, 3);
  const ours = join(dir, 'ours'), theirs = join(dir, 'theirs');
  writeFileSync(ours, encodeCifarPickle(images, labels));
  const script = [
    'import pickle, sys, numpy as np',
    'd = pickle.load(open(sys.argv[1], "rb"), encoding="latin1")',
    'print(d["data"].dtype, d["data"].shape, bytes(d["data"]).hex(), ",".join(map(str, d["labels"])))',
    'x = {"batch_label": "b", "labels": [9, 0], "data": np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072), "filenames": ["a.png", "b.png"]}',
    'pickle.dump(x, open(sys.argv[2], "wb"), protocol=3)',
  ].join('\n');
  const r = await runCommand(numpyPython!, ['-c', script, ours, theirs], { timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.err);
  assert.equal(r.out.trim(), `uint8 (3, 3072) ${Buffer.from(images).toString('hex')} ${[...labels].join(',')}`);
  const b = parseCifarPickleBatch(new Uint8Array(readFileSync(theirs)), theirs);
  assert.deepEqual([...b.labels], [9, 0]);
  assert.deepEqual(b.images, Uint8Array.from({ length: 2 * 3072 }, (_, i) => i & 0xff));
});
