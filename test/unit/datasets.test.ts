// Finding and loading datasets: the layouts users have (OpenLTH/torchvision, plain folders,
// Debian's Fashion-MNIST), raw or gzipped files, a clear error when nothing is found, the real
// Fashion-MNIST when installed, and the synthetic set (deterministic and learnable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '../../src/data/idx.ts';
import { classCounts, DataFormatError, type Dataset } from '../../src/data/dataset.ts';
import { SYNTHETIC_DEFAULTS, syntheticDataset, type SyntheticSpec } from '../../src/data/synthetic.ts';
import { DatasetNotFoundError, FASHION_MNIST_SYSTEM_DIR, loadDataset, locateDataset, readMaybeGzip } from '../../runner/data/datasets.ts';

const NO_DEFAULTS = { env: {}, fallbackRoots: [] as string[], systemDirs: [] as string[] };

/** Writes a tiny 4-file IDX set (train 6 images, test 2; 28×28 pixels, as MNIST defines them) into `dir`. */
function writeIdx(dir: string, opts: { gz?: boolean; dotted?: boolean; firstPixel?: number; only?: 'train' } = {}): void {
  mkdirSync(dir, { recursive: true });
  const name = (f: string) => (opts.dotted ? f.replace(/-(idx\d)-/, '.$1-') : f) + (opts.gz ? '.gz' : '');
  const put = (f: string, b: Uint8Array) => writeFileSync(join(dir, name(f)), opts.gz ? gzipSync(b) : b);
  const px = (n: number) => Uint8Array.from({ length: n * 784 }, (_, i) => (i === 0 ? opts.firstPixel ?? 0 : i % 256));
  put('train-images-idx3-ubyte', encodeIdx([6, 28, 28], px(6)));
  put('train-labels-idx1-ubyte', encodeIdx([6], Uint8Array.from([0, 1, 2, 3, 4, 9])));
  if (opts.only === 'train') return;
  put('t10k-images-idx3-ubyte', encodeIdx([2, 28, 28], px(2)));
  put('t10k-labels-idx1-ubyte', encodeIdx([2], Uint8Array.from([5, 6])));
}

function tempRoot(t: { after: (fn: () => void) => void }): string {
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-data-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('MNIST in the OpenLTH/torchvision layout <root>/mnist/MNIST/raw/*.gz loads both splits', async (t) => {
  const root = tempRoot(t);
  writeIdx(join(root, 'mnist', 'MNIST', 'raw'), { gz: true });
  const { train, test: tst } = await loadDataset('mnist', { dataDir: root, ...NO_DEFAULTS });
  assert.deepEqual([train.count, train.channels, train.height, train.width], [6, 1, 28, 28]);
  assert.deepEqual([...train.labels], [0, 1, 2, 3, 4, 9]);
  assert.deepEqual([...tst.labels], [5, 6]);
  assert.equal(train.name, 'mnist/train');
});

test('EARLYPHASE_DATA is searched; raw and dotted names work; <root>/mnist wins over <root>', async (t) => {
  const root = tempRoot(t);
  writeIdx(root, { firstPixel: 1 }); // files directly in the root (e.g. a Fashion-MNIST copy)
  writeIdx(join(root, 'mnist'), { dotted: true, firstPixel: 2 });
  const files = locateDataset('mnist', { ...NO_DEFAULTS, env: { EARLYPHASE_DATA: root } });
  assert.equal(files.dir, join(root, 'mnist'));
  assert.equal(files.train[0], join(root, 'mnist', 'train-images.idx3-ubyte'));
  const { train } = await loadDataset('mnist', { ...NO_DEFAULTS, env: { EARLYPHASE_DATA: root } });
  assert.equal(train.images[0], 2);
  // --data-dir comes before EARLYPHASE_DATA
  const other = tempRoot(t);
  writeIdx(join(other, 'fashion_mnist', 'FashionMNIST', 'raw'));
  assert.equal(locateDataset('fashion_mnist', { ...NO_DEFAULTS, dataDir: other, env: { EARLYPHASE_DATA: root } }).dir,
    join(other, 'fashion_mnist', 'FashionMNIST', 'raw'));
});

test('nothing found ⇒ error listing every folder searched and how to get the data', (t) => {
  const root = tempRoot(t);
  const check = (name: string, opts: object, ...want: RegExp[]) => assert.throws(() => locateDataset(name, { ...NO_DEFAULTS, ...opts }),
    (e: unknown) => e instanceof DatasetNotFoundError && want.every((re) => re.test(e.message)) || assert.fail(String(e)));
  check('mnist', { dataDir: root },
    new RegExp(`^dataset "mnist" not found in --data-dir ${root} \\(a data location you name is the only one searched\\)\\.`),
    new RegExp(`^  ${join(root, 'mnist', 'MNIST', 'raw')}$`, 'm'), new RegExp(`^  ${root}$`, 'm'),
    /train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte \(each also as \.gz\)/,
    /into <root>\/mnist\/ and pass --data-dir=<root> or set EARLYPHASE_DATA=<root>/);
  check('fashion_mnist', { systemDirs: [join(root, 'nope')] }, /no --data-dir given and EARLYPHASE_DATA is not set/,
    new RegExp(`^  ${join(root, 'nope')}$`, 'm'), /apt install dataset-fashion-mnist/);
  check('cifar10', { dataDir: root }, /cifar-10-binary\.tar\.gz/, /data_batch_1\.bin, .*test_batch\.bin/);
  check('imagenet', {}, /unknown dataset "imagenet"; expected one of mnist, fashion_mnist, cifar10, synthetic/);
});

test('a corrupt .gz ⇒ error naming the file', async (t) => {
  const root = tempRoot(t);
  const p = join(root, 'bad.gz');
  writeFileSync(p, gzipSync(new Uint8Array(100)).subarray(0, 20));
  await assert.rejects(readMaybeGzip(p), (e: unknown) => e instanceof DataFormatError && e.message.startsWith(`${p}: corrupt gzip data`));
  writeFileSync(p, Uint8Array.from([1, 2, 3])); // not gzip despite the name: read as-is
  assert.deepEqual([...await readMaybeGzip(p)], [1, 2, 3]);
});

test('real Fashion-MNIST from the Debian package: 60000/10000, 28×28, labels 0..9 balanced', { skip: !existsSync(FASHION_MNIST_SYSTEM_DIR) && `${FASHION_MNIST_SYSTEM_DIR} not installed` }, async () => {
  const { train, test: tst } = await loadDataset('fashion_mnist', { env: {}, fallbackRoots: [] });
  assert.deepEqual([train.count, tst.count, train.height, train.width, train.channels], [60000, 10000, 28, 28, 1]);
  assert.deepEqual(classCounts(train), new Array(10).fill(6000));
  assert.deepEqual(classCounts(tst), new Array(10).fill(1000));
  assert.ok(train.images.some((v) => v === 255) && train.images.some((v) => v === 0));
});

/** Nearest class mean (fit on train) accuracy on test: a linear-ish learner the data must support. */
function nearestMeanAccuracy(train: Dataset, tst: Dataset): number {
  const size = train.channels * train.height * train.width;
  const means = new Float64Array(train.classes * size);
  const counts = classCounts(train);
  for (let i = 0; i < train.count; i++) for (let j = 0; j < size; j++) means[train.labels[i]! * size + j]! += train.images[i * size + j]! / counts[train.labels[i]!]!;
  let right = 0;
  for (let i = 0; i < tst.count; i++) {
    let best = -1, bestD = Infinity;
    for (let k = 0; k < train.classes; k++) {
      let d = 0;
      for (let j = 0; j < size; j++) d += (tst.images[i * size + j]! - means[k * size + j]!) ** 2;
      if (d < bestD) { bestD = d; best = k; }
    }
    if (best === tst.labels[i]) right++;
  }
  return right / tst.count;
}

test('synthetic: same seed ⇒ same bytes; other seed or split ⇒ different; learnable; balanced', async () => {
  const spec: SyntheticSpec = { ...SYNTHETIC_DEFAULTS, trainCount: 200, testCount: 100, channels: 2, height: 8, width: 8, classes: 5, noise: 0.3 };
  const { train, test: tst } = await loadDataset('synthetic', { synthetic: spec });
  assert.deepEqual([train.count, tst.count, train.channels, train.height, train.width, train.classes], [200, 100, 2, 8, 8, 5]);
  assert.deepEqual(syntheticDataset(spec, 'train').images, train.images);
  assert.notDeepEqual(syntheticDataset({ ...spec, seed: 1 }, 'train').images, train.images);
  assert.notDeepEqual(tst.images, train.images.subarray(0, tst.images.length));
  assert.deepEqual(classCounts(train), [40, 40, 40, 40, 40]);
  assert.notDeepEqual([...train.labels.subarray(0, 10)], [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]); // shuffled, not cyclic
  const acc = nearestMeanAccuracy(train, tst);
  assert.ok(acc > 0.9, `nearest-class-mean test accuracy ${acc} should be > 0.9`);
  // With noise but different prototype seeds for train and test, nothing transfers: chance level.
  const cross = nearestMeanAccuracy(train, syntheticDataset({ ...spec, seed: 7 }, 'test'));
  assert.ok(cross < 0.5, `accuracy across seeds ${cross} should be near chance (0.2)`);
  assert.throws(() => syntheticDataset({ ...spec, classes: 0 }), /synthetic dataset: classes must be an integer ≥ 1, got 0/);
});
