// What the loader refuses and records (issue 15 items 8–9, issue 14 item 4): a gzip bomb is cut
// off at the size its IDX header declares, bad headers and mismatched splits name the file, a
// data location the user named is the only one searched, and every load says which files it
// read with a fingerprint that a run folder keeps and checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx } from '../../src/data/idx.ts';
import { DataFormatError, makeSplits } from '../../src/data/dataset.ts';
import { checkDataRecord, DATA_RECORD } from '../../src/train/data-record.ts';
import { syntheticDataset, SYNTHETIC_DEFAULTS } from '../../src/data/synthetic.ts';
import { UserError } from '../../src/errors.ts';
import { DatasetNotFoundError, idxBound, loadDataset, locateDataset, readMaybeGzip } from '../../runner/data/datasets.ts';
import { FsStorage } from '../../runner/storage/fs-storage.ts';
import { gunzipBounded } from '../../viewer/browser-data.ts';

const NO_DEFAULTS = { env: {}, fallbackRoots: [] as string[], systemDirs: [] as string[] };
const FILES = { trainImages: 'train-images-idx3-ubyte', trainLabels: 'train-labels-idx1-ubyte', testImages: 't10k-images-idx3-ubyte', testLabels: 't10k-labels-idx1-ubyte' };

function tempRoot(t: { after: (fn: () => void) => void }): string {
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-data-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** A 4-file IDX set; `images` overrides a split's dims (count×rows×cols), labels follow the count. */
function writeSet(dir: string, opts: { train?: number[]; test?: number[]; seed?: number; skip?: (keyof typeof FILES)[] } = {}): void {
  mkdirSync(dir, { recursive: true });
  const put = (k: keyof typeof FILES, b: Uint8Array) => { if (!opts.skip?.includes(k)) writeFileSync(join(dir, FILES[k]), b); };
  const split = (dims: number[], img: keyof typeof FILES, lab: keyof typeof FILES, seed: number) => {
    const n = dims.reduce((a, b) => a * b, 1);
    put(img, encodeIdx(dims, Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) % 256)));
    put(lab, encodeIdx([dims[0]!], Uint8Array.from({ length: dims[0]! }, (_, i) => i % 10)));
  };
  split(opts.train ?? [6, 28, 28], 'trainImages', 'trainLabels', opts.seed ?? 0);
  split(opts.test ?? [2, 28, 28], 'testImages', 'testLabels', (opts.seed ?? 0) + 1);
}

/** Rejects with a one-line error of `type` matching every pattern. */
async function refused(p: Promise<unknown>, type: new (...a: never[]) => Error, ...want: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    if (!(e instanceof type)) assert.fail(`expected ${type.name}, got ${String(e)}`);
    for (const re of want) assert.match(e.message, re);
    return true;
  });
}

test('gzip bomb: inflating stops at the size the IDX header declares, in bounded time and memory', async (t) => {
  const root = tempRoot(t);
  const p = join(root, FILES.trainImages + '.gz');
  // A valid header for 100 images (78,416 bytes) and then 512 MiB of zeros: 32 concatenated gzip
  // members (gunzip reads them as one stream) of 16 MiB each, about 0.5 MB on disk.
  const zeros = gzipSync(new Uint8Array(16 * 2 ** 20), { level: 1 });
  const first = gzipSync(encodeIdx([100, 28, 28], new Uint8Array(100 * 784)));
  writeFileSync(p, Buffer.concat([first, ...new Array(32).fill(zeros)]));
  const rss0 = process.memoryUsage.rss();
  let peak = rss0;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 2);
  const t0 = performance.now();
  try {
    await refused(readMaybeGzip(p, idxBound(3)), DataFormatError,
      new RegExp(`^${p}: decompresses to more than the 78416 bytes its IDX header \\(100×28×28\\) declares; .*download it again$`));
  } finally {
    clearInterval(sampler);
  }
  const ms = performance.now() - t0, grew = (peak - rss0) / 2 ** 20;
  // Without the bound this inflated all 512 MiB (and held it twice while concatenating).
  assert.ok(ms < 3000, `took ${Math.round(ms)} ms`);
  assert.ok(grew < 128, `memory grew by ${grew.toFixed(0)} MiB`);
  // Through the loader too: the bomb is the train images of a dataset folder.
  writeSet(root, { skip: ['trainImages'] });
  await refused(loadDataset('mnist', { ...NO_DEFAULTS, dataDir: root }), DataFormatError, /decompresses to more than the 78416 bytes/);
  // A header that itself declares more than a dataset file may hold is refused from its first 16 bytes.
  const huge = encodeIdx([1, 1, 1], new Uint8Array(1));
  new DataView(huge.buffer).setUint32(4, 2 ** 31, false);
  writeFileSync(p, gzipSync(huge));
  await refused(readMaybeGzip(p, idxBound(3)), DataFormatError, /IDX header \(2147483648×1×1\) declares 2147483664 bytes, more than the 1073741824-byte limit/);
  // A .gz within its bound still reads (and a corrupt stream is still named).
  writeFileSync(p, gzipSync(encodeIdx([2, 28, 28], new Uint8Array(2 * 784))));
  assert.equal((await readMaybeGzip(p, idxBound(3))).length, 16 + 2 * 784);
});

test('the browser tab inflates with the same bound (DecompressionStream)', async () => {
  const zeros = gzipSync(new Uint8Array(16 * 2 ** 20), { level: 1 });
  const bomb = new Uint8Array(Buffer.concat([gzipSync(encodeIdx([100, 28, 28], new Uint8Array(100 * 784))), ...new Array(16).fill(zeros)]));
  const t0 = performance.now();
  await refused(gunzipBounded(bomb, 'train-images-idx3-ubyte.gz', idxBound(3)), DataFormatError,
    /^train-images-idx3-ubyte\.gz: decompresses to more than the 78416 bytes its IDX header \(100×28×28\) declares/);
  assert.ok(performance.now() - t0 < 3000, `took ${Math.round(performance.now() - t0)} ms`);
  const ok = encodeIdx([3, 28, 28], Uint8Array.from({ length: 3 * 784 }, (_, i) => i % 256));
  assert.deepEqual(await gunzipBounded(new Uint8Array(gzipSync(ok)), 'f', idxBound(3)), ok);
});

test('IDX headers: 0 images, 60000×1×784-style shapes and train/test mismatches are refused naming the file', async (t) => {
  const root = tempRoot(t);
  const load = () => loadDataset('fashion_mnist', { ...NO_DEFAULTS, dataDir: root });
  writeSet(root, { train: [3, 1, 784] });
  await refused(load(), DataFormatError, new RegExp(`^${join(root, FILES.trainImages)}: header says 3×1×784, but fashion_mnist images are 28×28`));
  writeSet(root, { test: [4, 14, 56] });
  await refused(load(), DataFormatError, new RegExp(`^${join(root, FILES.testImages)}: header says 4×14×56, but fashion_mnist images are 28×28`));
  writeSet(root, { train: [0, 28, 28] });
  await refused(load(), DataFormatError, new RegExp(`^${join(root, FILES.trainImages)}: holds 0 images \\(header dims 0×28×28\\); a split needs at least one$`));
  writeSet(root);
  assert.equal((await load()).train.count, 6);
  // The split check itself, for datasets without a fixed image size: names both sources.
  const a = syntheticDataset({ ...SYNTHETIC_DEFAULTS, trainCount: 4, testCount: 4, height: 8, width: 8 });
  const b = syntheticDataset({ ...SYNTHETIC_DEFAULTS, trainCount: 4, testCount: 4, height: 14, width: 56 }, 'test');
  assert.throws(() => makeSplits(a, b, { train: 'A', test: 'B' }),
    (e: unknown) => e instanceof DataFormatError && /^B holds 3×14×56, 10 classes examples but A holds 3×8×8, 10 classes; the train and test files must come from the same dataset$/.test(e.message)
      || assert.fail(String(e)));
});

test('a named data location is the only one searched: missing, a file, or incomplete is an error, never a fallback', async (t) => {
  const root = tempRoot(t);
  const system = join(root, 'system');
  writeSet(system); // a complete Fashion-MNIST where the Debian package would be: must not be used
  const opts = { env: {}, fallbackRoots: [] as string[], systemDirs: [system] };
  const locate = (o: object) => locateDataset('fashion_mnist', { ...opts, ...o });
  assert.equal(locate({}).dir, system); // with nothing named, the system copy is found
  const nowhere = join(root, 'nowhere');
  assert.throws(() => locate({ dataDir: nowhere }), (e: unknown) => e instanceof DatasetNotFoundError &&
    e.message === `--data-dir ${nowhere} does not exist; name the folder that holds the fashion_mnist files` || assert.fail(String(e)));
  assert.throws(() => locate({ env: { EARLYPHASE_DATA: nowhere } }), (e: unknown) => e instanceof DatasetNotFoundError &&
    /^EARLYPHASE_DATA .* does not exist; .*or unset EARLYPHASE_DATA to use the default locations$/.test(e.message) || assert.fail(String(e)));
  writeFileSync(join(root, 'afile'), 'x');
  assert.throws(() => locate({ dataDir: join(root, 'afile') }), /--data-dir .*afile is not a folder/);
  const half = join(root, 'half');
  writeSet(half, { skip: ['testImages', 'testLabels'] });
  assert.throws(() => locate({ dataDir: half }), (e: unknown) => e instanceof DatasetNotFoundError &&
    e.message.startsWith(`dataset "fashion_mnist" not found in --data-dir ${half}`) &&
    e.message.includes(`${half} has some of the files but not t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte`) &&
    !e.message.includes(system) || assert.fail(String(e)));
  assert.throws(() => locate({ env: { EARLYPHASE_DATA: half } }), /not found in EARLYPHASE_DATA/);
  // --data-dir wins over EARLYPHASE_DATA, and is not supplemented by it
  assert.equal(locate({ dataDir: system, env: { EARLYPHASE_DATA: half } }).dir, system);
  assert.throws(() => locate({ dataDir: half, env: { EARLYPHASE_DATA: system } }), /not found in --data-dir/);
});

test('every load says which files it read; the fingerprint follows the contents, not the file names or compression', async (t) => {
  const root = tempRoot(t);
  const a = join(root, 'a'), gz = join(root, 'gz'), edited = join(root, 'edited'), swapped = join(root, 'swapped');
  writeSet(a);
  mkdirSync(gz);
  for (const f of Object.values(FILES)) writeFileSync(join(gz, f + '.gz'), gzipSync(readFileSync(join(a, f))));
  writeSet(edited);
  const img = readFileSync(join(edited, FILES.testImages)); img[100]! ^= 1; writeFileSync(join(edited, FILES.testImages), img);
  writeSet(swapped, { train: [2, 28, 28], test: [2, 28, 28] }); // equal counts, so the images can swap roles
  const lines: string[] = [];
  const load = (dir: string) => loadDataset('mnist', { ...NO_DEFAULTS, dataDir: dir, log: (l) => lines.push(l) });
  const [sa, sgz, sed] = [(await load(a)).source!, (await load(gz)).source!, (await load(edited)).source!];
  assert.equal(lines.length, 3);
  assert.equal(lines[0], `data: mnist from ${Object.values(FILES).map((f) => join(a, f)).join(', ')} (fingerprint ${sa.fingerprint.slice(0, 12)})`);
  assert.deepEqual(sa.files.map((f) => f.role), ['train-images', 'train-labels', 'test-images', 'test-labels']);
  assert.equal(sa.fingerprint, sgz.fingerprint, 'the same bytes gzipped are the same data');
  assert.notEqual(sa.fingerprint, sed.fingerprint, 'one flipped pixel is other data');
  const before = (await load(swapped)).source!;
  renameSync(join(swapped, FILES.trainImages), join(swapped, 'x'));
  renameSync(join(swapped, FILES.testImages), join(swapped, FILES.trainImages));
  renameSync(join(swapped, 'x'), join(swapped, FILES.testImages));
  const after = (await load(swapped)).source!;
  assert.deepEqual(after.files.map((f) => f.sha256).sort(), before.files.map((f) => f.sha256).sort());
  assert.notEqual(after.fingerprint, before.fingerprint, 'the same files in other roles are other data');
  assert.match((await loadDataset('synthetic', { synthetic: { trainCount: 8, testCount: 8 }, log: (l) => lines.push(l) })).source!.fingerprint, /^[0-9a-f]{64}$/);
  assert.match(lines.at(-1)!, /^data: synthetic from generated \(\{.*"trainCount":8.*\}\) \(fingerprint [0-9a-f]{12}\)$/);
});

test('a run folder records its data and refuses other data with one line naming both', async (t) => {
  const root = tempRoot(t);
  const a = join(root, 'a'), b = join(root, 'b');
  writeSet(a);
  writeSet(b, { seed: 3 });
  const storage = new FsStorage(join(root, 'runs'));
  const dir = 'train_x/replicate_1/main';
  const da = await loadDataset('mnist', { ...NO_DEFAULTS, dataDir: a });
  await checkDataRecord(storage, dir, da.source);
  const record = JSON.parse(readFileSync(join(root, 'runs', dir, DATA_RECORD), 'utf8'));
  assert.equal(record.fingerprint, da.source!.fingerprint);
  assert.deepEqual(record.files.map((f: { path: string }) => f.path), Object.values(FILES).map((f) => join(a, f)));
  await checkDataRecord(storage, dir, (await loadDataset('mnist', { ...NO_DEFAULTS, dataDir: a })).source); // same data: accepted
  const db = await loadDataset('mnist', { ...NO_DEFAULTS, dataDir: b });
  await refused(checkDataRecord(storage, dir, db.source), UserError,
    new RegExp(`^${dir}/data\\.json: this run folder was trained on mnist from ${join(a, FILES.trainImages)}, .* \\(fingerprint ${da.source!.fingerprint.slice(0, 12)}\\), ` +
      `but the data read now come from ${join(b, FILES.trainImages)}, .* \\(fingerprint ${db.source!.fingerprint.slice(0, 12)}\\); use the original files`),
    /^[^\n]*$/);
  assert.equal(JSON.parse(readFileSync(join(root, 'runs', dir, DATA_RECORD), 'utf8')).fingerprint, da.source!.fingerprint, 'the record is kept');
});
