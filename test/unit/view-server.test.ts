// The view server on a temporary runs root, viewer folder and data folder, with a secret file
// beside them: every route answers, and every way out of the served folders (encoded `..`,
// backslashes, absolute paths, NUL, symlinks, unlisted dataset files, foreign Host names) is
// refused without leaking the secret. Raw http.request, because fetch normalises `..` away.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../../runner/storage/atomic-write.ts';
import { FsStorage } from '../../runner/storage/fs-storage.ts';
import { startViewServer, type ViewServer } from '../../runner/view-server/server.ts';

// Datasets are looked for in $EARLYPHASE_DATA and ~/open_lth_datasets too; point both away so
// only the folders made here count.
const base = mkdtempSync(join(tmpdir(), 'earlyphase-view-'));
process.env.HOME = join(base, 'home');
delete process.env.EARLYPHASE_DATA;

const SECRET = 'TOP-SECRET-7f3a9c';
const secretPath = join(base, 'secret.txt');
const root = join(base, 'runs');
const viewerDir = join(base, 'viewer');
const dataDir = join(base, 'data');
const mnistDir = join(dataDir, 'mnist');
const cifarDir = join(dataDir, 'cifar10', 'cifar-10-batches-bin');
const MNIST_FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte.gz'];
const weights = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) % 256);

function put(path: string, data: string | Uint8Array): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
}

before(() => {
  put(secretPath, SECRET);
  put(join(viewerDir, 'index.html'), '<!doctype html><title>run in a tab</title>');
  put(join(viewerDir, 'app.js'), 'console.log("app");');
  symlinkSync(secretPath, join(viewerDir, 'escape.txt'));
  put(join(root, 'lottery_abc', 'hparams.json'), '{"model":"lenet"}');
  put(join(root, 'lottery_abc', 'level_0', 'metrics.csv'), 'name,iteration,value\ntest_accuracy,0,0.1\n');
  put(join(root, 'lottery_abc', 'level_0', 'model.safetensors'), weights);
  put(join(root, 'lottery_abc', 'level_0', '.model.safetensors.123.tmp'), 'half-written');
  writeFileSync(join(root, 'lottery_abc', 'trajectory.txt'), '');
  truncateSync(join(root, 'lottery_abc', 'trajectory.txt'), 21 * 2 ** 20); // sparse: over the 20 MB text limit
  symlinkSync(secretPath, join(root, 'lottery_abc', 'leak.json'));
  symlinkSync(base, join(root, 'outside'));
  symlinkSync(join(root, 'lottery_abc'), join(root, 'alias')); // a link that stays inside is fine
  symlinkSync(join(root, 'lottery_abc'), join(root, 'lottery_abc', 'level_0', 'loop')); // must not recurse forever
  MNIST_FILES.forEach((f, i) => put(join(mnistDir, f), `mnist-${i}`));
  put(join(mnistDir, 'notes.txt'), 'not a dataset file');
  for (const f of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']) put(join(cifarDir, `${f}.bin`), f);
});
after(() => rmSync(base, { recursive: true, force: true }));

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer; text: string }

function http(url: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array } = {}): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const json = (r: Reply) => JSON.parse(r.text);
const SAVE = { 'x-earlyphase-save': '1' };

describe('view server', () => {
  let server: ViewServer;
  before(async () => { server = await startViewServer({ root, dataDir, viewerDir }); });
  after(() => server.close());
  const get = (path: string, opts?: Parameters<typeof http>[2]) => http(server.url, path, opts);

  test('serves the viewer: / is index.html, bundles by name, HEAD without a body', async () => {
    const index = await get('/');
    assert.equal(index.status, 200);
    assert.match(index.text, /run in a tab/);
    assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(index.headers['cache-control'], 'no-store');
    const js = await get('/app.js');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.text, 'console.log("app");');
    const head = await get('/app.js', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(js.body.length));
    assert.equal(head.body.length, 0);
    assert.equal((await get('/missing.html')).status, 404);
  });

  test('/api/info: root, write flag, located datasets with URLs that serve their bytes', async () => {
    const info = json(await get('/api/info'));
    assert.equal(info.root, root);
    assert.equal(info.write, true);
    const mnist = info.datasets.mnist;
    assert.equal(mnist.available, true);
    assert.deepEqual(Object.keys(mnist.files), ['trainImages', 'trainLabels', 'testImages', 'testLabels']);
    assert.equal(mnist.files.trainImages, '/data/mnist/train-images-idx3-ubyte.gz');
    for (const [i, url] of [mnist.files.trainImages, mnist.files.trainLabels, mnist.files.testImages, mnist.files.testLabels].entries()) {
      const r = await get(url);
      assert.equal(r.status, 200, url);
      assert.equal(r.text, `mnist-${i}`);
    }
    assert.equal((await get(mnist.files.trainImages)).headers['content-type'], 'application/gzip');
    const cifar = info.datasets.cifar10;
    assert.equal(cifar.available, true);
    assert.equal(cifar.files.train.length, 5);
    assert.deepEqual(cifar.files.test, ['/data/cifar10/test_batch.bin']);
    assert.equal((await get(cifar.files.train[4])).text, 'data_batch_5');
    assert.equal(typeof info.datasets.fashion_mnist.available, 'boolean');
  });

  test('/runs/ serves files under the root byte for byte, sidecars and links that stay inside included', async () => {
    const r = await get('/runs/lottery_abc/level_0/model.safetensors');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(new Uint8Array(r.body), weights);
    assert.equal((await get('/runs/alias/hparams.json')).text, '{"model":"lenet"}');
    assert.equal((await get('/runs/lottery_abc/nope.json')).status, 404);
  });

  test('/api/list: sorted entries, hidden files and links that leave the root omitted, 404 for a missing folder', async () => {
    assert.deepEqual(json(await get('/api/list?dir=')), [{ name: 'alias', dir: true }, { name: 'lottery_abc', dir: true }]);
    assert.deepEqual(json(await get('/api/list?dir=lottery_abc/level_0')), [
      { name: 'loop', dir: true }, { name: 'metrics.csv', dir: false }, { name: 'model.safetensors', dir: false },
    ]);
    const missing = await get('/api/list?dir=lottery_zzz');
    assert.equal(missing.status, 404);
    assert.match(json(missing).error, /not found/);
  });

  test('/api/files: the text of every .json/.csv/.txt below the folder keyed by root-relative path, other files by name (null); escapes skipped', async () => {
    const files = json(await get('/api/files?dir=lottery_abc'));
    // level_0/loop leads back to lottery_abc, already walked: read once, not until the path is too long.
    const texts = Object.keys(files).filter((k) => files[k] !== null).sort();
    assert.deepEqual(texts, ['lottery_abc/hparams.json', 'lottery_abc/level_0/metrics.csv']);
    assert.equal(files['lottery_abc/level_0/metrics.csv'], 'name,iteration,value\ntest_accuracy,0,0.1\n');
    // Binaries and text over the size limit are named, not sent; the hidden temp file and the link out are neither.
    for (const named of ['lottery_abc/level_0/model.safetensors', 'lottery_abc/trajectory.txt']) assert.equal(files[named], null, named);
    assert.ok(!Object.keys(files).some((k) => k.includes('.tmp') || k.endsWith('leak.json')));
    const all = await get('/api/files');
    assert.ok(Object.keys(json(all)).includes('alias/hparams.json'));
    assert.ok(!all.text.includes(SECRET));
  });

  const escapes = [
    '/runs/../secret.txt', '/runs/%2e%2e/secret.txt', '/runs/%2E%2E%2Fsecret.txt', '/runs/..%2fsecret.txt',
    '/runs/%2e%2e%5csecret.txt', '/runs/%252e%252e/secret.txt', '/runs/lottery_abc%2f..%2f..%2fsecret.txt', '/runs/lottery_abc%5c..%5c..%5csecret.txt', '/runs/%252e%252e%252fsecret.txt', '/runs/..\\secret.txt',
    `/runs/${secretPath}`, `/runs/${encodeURIComponent(secretPath)}`, `/${secretPath}`, '//etc/passwd', '/runs//etc/passwd',
    '/runs/lottery_abc/hparams.json%00.png', '/runs/lottery_abc/leak.json', '/runs/outside/secret.txt',
    '/runs/lottery_abc/level_0/.model.safetensors.123.tmp',
    '/../secret.txt', '/%2e%2e/secret.txt', '/..\\secret.txt', '/escape.txt', '/%2e%2e%2f%2e%2e%2fetc/passwd',
    '/data/mnist/notes.txt', '/data/mnist/../../secret.txt', '/data/mnist/%2e%2e%2f%2e%2e%2fsecret.txt', '/data/../secret.txt',
    '/data/fashion_mnist/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/data/synthetic/x', '/data/mnist',
    '/api/list?dir=..', '/api/list?dir=%2e%2e', '/api/list?dir=outside', '/api/list?dir=/etc', `/api/list?dir=${base}`,
    '/api/files?dir=..', '/api/files?dir=outside', '/api/files?dir=%2Fetc', '/api/files?dir=lottery_abc/../..',
  ];
  for (const path of escapes) {
    test(`refuses ${path}`, async () => {
      const r = await get(path);
      assert.ok(r.status === 403 || r.status === 404, `status ${r.status}`);
      assert.ok(!r.text.includes(SECRET) && !r.text.includes('root:x:0'), `leaked: ${r.text.slice(0, 200)}`);
      assert.equal(typeof json(r).error, 'string');
    });
  }

  test('answers only loopback Host names (DNS rebinding)', async () => {
    const port = new URL(server.url).port;
    const foreign = await get('/runs/lottery_abc/hparams.json', { headers: { host: `evil.example:${port}` } });
    assert.equal(foreign.status, 403);
    assert.ok(!foreign.text.includes('lenet'));
    assert.equal((await get('/runs/lottery_abc/hparams.json', { headers: { host: `localhost:${port}` } })).status, 200);
  });

  test('PUT into a new run folder writes atomically with a .sha256 sidecar; parallel saves to that folder all land', async () => {
    const r = await get('/runs/train_new/level_0/model.safetensors', { method: 'PUT', headers: SAVE, body: weights });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(json(r), { path: 'train_new/level_0/model.safetensors', bytes: weights.length });
    const file = join(root, 'train_new', 'level_0', 'model.safetensors');
    assert.equal(readFileSync(`${file}.sha256`, 'utf8'), `${sha256Hex(weights)}  model.safetensors\n`);
    assert.deepEqual(await new FsStorage(root).read('train_new/level_0/model.safetensors'), weights);
    const parallel = await Promise.all([0, 1, 2, 3].map((i) =>
      get(`/runs/lottery_par/level_${i}/metrics.csv`, { method: 'PUT', headers: SAVE, body: `m,${i},0\n` })));
    assert.deepEqual(parallel.map((p) => p.status), [200, 200, 200, 200]);
    assert.equal(await new FsStorage(root).read('lottery_par/level_3/metrics.csv').then((b) => new TextDecoder().decode(b!)), 'm,3,0\n');
    assert.equal((await get('/runs/train_new/level_0/model.safetensors')).body.length, weights.length);
  });

  test('PUT is refused into a folder the server did not create, without the header, with .., on a sidecar, and when too big', async () => {
    const existing = await get('/runs/lottery_abc/hparams.json', { method: 'PUT', headers: SAVE, body: '{"evil":1}' });
    assert.equal(existing.status, 403);
    assert.match(json(existing).error, /lottery_abc/);
    assert.equal(readFileSync(join(root, 'lottery_abc', 'hparams.json'), 'utf8'), '{"model":"lenet"}');
    const noHeader = await get('/runs/train_nohdr/a.json', { method: 'PUT', body: '{}' });
    assert.equal(noHeader.status, 403);
    assert.match(json(noHeader).error, /x-earlyphase-save/);
    assert.equal(existsSync(join(root, 'train_nohdr')), false);
    for (const path of ['/runs/../evil.json', '/runs/train_dots/%2e%2e/%2e%2e/evil.json', '/runs/train_dots/..%2f..%2fevil.json', '/runs/evil.json', '/runs/train_sc/a.json.sha256']) {
      const r = await get(path, { method: 'PUT', headers: SAVE, body: '{}' });
      assert.equal(r.status, 403, path);
    }
    assert.equal(existsSync(join(base, 'evil.json')), false);
    assert.equal(existsSync(join(root, 'evil.json')), false);
    const big = await get('/runs/train_big/a.bin', { method: 'PUT', headers: { ...SAVE, 'content-length': String(600 * 2 ** 20) } });
    assert.equal(big.status, 413);
    assert.equal(existsSync(join(root, 'train_big')), false);
  });

  test('methods other than GET/HEAD (and PUT on /runs/) get 405', async () => {
    for (const [method, path] of [['POST', '/runs/train_new/x.json'], ['DELETE', '/runs/train_new/level_0/model.safetensors'], ['POST', '/api/info'], ['PUT', '/index.html'], ['OPTIONS', '/']]) {
      // Node's client sends no length for a DELETE/OPTIONS body, so those go without one.
      const r = await get(path!, { method, headers: SAVE, body: method === 'POST' || method === 'PUT' ? '{}' : undefined });
      assert.equal(r.status, 405, `${method} ${path}`);
    }
    assert.equal(existsSync(join(root, 'train_new', 'level_0', 'model.safetensors')), true);
  });
});

describe('view server, read-only on an empty root', () => {
  let server: ViewServer;
  const empty = join(base, 'empty-runs');
  before(async () => {
    mkdirSync(empty);
    server = await startViewServer({ root: empty, dataDir: join(base, 'no-data'), viewerDir, write: false });
  });
  after(() => server.close());

  test('lists [] and reports the write flag and missing datasets', async () => {
    assert.deepEqual(json(await http(server.url, '/api/list')), []);
    assert.deepEqual(json(await http(server.url, '/api/files?dir=')), {});
    const info = json(await http(server.url, '/api/info'));
    assert.equal(info.write, false);
    assert.equal(info.datasets.mnist.available, false);
    assert.match(info.datasets.mnist.reason, /^--data-dir .*no-data does not exist/);
    assert.equal((await http(server.url, '/data/mnist/train-images-idx3-ubyte.gz')).status, 404);
  });

  test('refuses every save', async () => {
    const r = await http(server.url, '/runs/train_new/a.json', { method: 'PUT', headers: SAVE, body: '{}' });
    assert.equal(r.status, 403);
    assert.match(json(r).error, /read-only/);
    assert.equal(existsSync(join(empty, 'train_new')), false);
  });
});
