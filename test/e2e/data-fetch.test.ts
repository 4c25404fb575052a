// `earlyphase data fetch` against a local HTTP server serving generated files: a download cut
// off mid-file resumes with a Range request, a file with the wrong bytes is refused and deleted,
// CIFAR-10's archive is unpacked (only its batch files), and what was fetched is where the other
// commands look for it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchDataset, MANIFESTS, type Manifest } from '../../runner/data-fetch.ts';
import { locateDataset } from '../../runner/datasets.ts';
import { tarArchive } from '../../viewer/tar.ts';
import { UserError } from '../../src/errors.ts';
import { tempDir } from '../temp-dir.ts';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 2654435761 + seed) >>> 24;
  return b;
}

/** Served files by name; `cut` names files whose first full request is cut off halfway. */
const served = new Map<string, Uint8Array>();
const cut = new Set<string>();
const ranges: string[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const name = decodeURIComponent((req.url ?? '/').slice(1));
  const body = served.get(name);
  if (!body) { res.writeHead(404).end(); return; }
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) {
    ranges.push(`${name} ${req.headers.range}`);
    const from = Number(range[1]);
    if (from >= body.length) { res.writeHead(416).end(); return; }
    res.writeHead(206, { 'content-length': body.length - from, 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` });
    res.end(body.subarray(from));
    return;
  }
  res.writeHead(200, { 'content-length': body.length });
  if (cut.delete(name)) {
    res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
    return;
  }
  res.end(body);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
after(() => server.close());

const quiet = () => {};

test('a cut-off download resumes with a Range request; files are checked and found where the commands look', async () => {
  const root = tempDir('earlyphase-fetch-');
  const files = MANIFESTS.fashion_mnist.files.map((f, i) => ({ name: f.name, data: gzipSync(bytes(200_000 + i, i)) }));
  for (const f of files) served.set(f.name, f.data);
  const manifest: Manifest = { subdir: 'fashion_mnist', mirrors: [url], files: files.map((f) => ({ name: f.name, md5: md5(f.data) })) };
  cut.add(files[0]!.name);
  await assert.rejects(fetchDataset('fashion_mnist', { dataDir: root, manifest, log: quiet }),
    (e: Error) => e instanceof UserError && /train-images-idx3-ubyte\.gz could not be fetched/.test(e.message) &&
      /kept in .*\.part/.test(e.message) && /Run the same command again to resume/.test(e.message));
  const part = join(root, 'fashion_mnist', `${files[0]!.name}.part`);
  const kept = readFileSync(part).length;
  assert.ok(kept > 0 && kept < files[0]!.data.length, `partial file of ${kept} bytes`);
  const r = await fetchDataset('fashion_mnist', { dataDir: root, manifest, log: quiet });
  assert.ok(ranges.includes(`${files[0]!.name} bytes=${kept}-`), ranges.join(', '));
  assert.deepEqual(r.downloaded, files.map((f) => f.name));
  for (const f of files) assert.equal(md5(readFileSync(join(root, 'fashion_mnist', f.name))), md5(f.data));
  assert.equal(existsSync(part), false);
  const again = await fetchDataset('fashion_mnist', { dataDir: root, manifest, log: quiet });
  assert.deepEqual(again.downloaded, [], 'a second fetch downloads nothing');
  assert.equal(locateDataset('fashion_mnist', { dataDir: root }).dir, join(root, 'fashion_mnist'));
});

/** Runs the CLI without blocking this process (its HTTP server must keep answering). */
function cli(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['runner/earlyphase.mjs', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => { stderr += b; });
    child.on('close', (status) => resolve({ status, stderr }));
  });
}

test('the CLI refuses a file whose MD5 is not the published one, deletes it and says so in one line', async () => {
  const root = tempDir('earlyphase-fetch-');
  for (const f of MANIFESTS.mnist.files) served.set(f.name, gzipSync(bytes(1000, 7)));
  const r = await cli(['data', 'fetch', 'mnist', '--data-dir', root, '--mirror', url]);
  assert.equal(r.status, 2, r.stderr);
  const line = r.stderr.trim().split('\n').filter((l) => l.startsWith('earlyphase:'));
  assert.equal(line.length, 1, r.stderr);
  assert.match(line[0]!, /train-images-idx3-ubyte\.gz could not be fetched .*checksum mismatch \(MD5 [0-9a-f]{32}, expected f68b3c2dcbeaaa9fbdd348bbdeb94873\); the file was deleted/);
  assert.deepEqual(readdirSync(join(root, 'mnist')), []);
});

test('CIFAR-10: the archive is checked, then only its six batch files are unpacked where the commands look', async () => {
  const root = tempDir('earlyphase-fetch-');
  const members = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'];
  const entries = [
    ...members.map((m, i) => ({ path: `cifar-10-batches-bin/${m}`, data: bytes(3073 * 3 + i, i) })),
    { path: 'cifar-10-batches-bin/readme.html', data: bytes(10, 1) },
    { path: 'elsewhere/data_batch_1.bin', data: bytes(10, 2) },
  ];
  const archive = gzipSync(tarArchive(entries));
  served.set('cifar-10-binary.tar.gz', archive);
  const manifest: Manifest = { ...MANIFESTS.cifar10, mirrors: [url], files: [{ name: 'cifar-10-binary.tar.gz', md5: md5(archive) }] };
  const r = await fetchDataset('cifar10', { dataDir: root, manifest, log: quiet });
  const dir = join(root, 'cifar10', 'cifar-10-batches-bin');
  assert.deepEqual(r.files, members.map((m) => join(dir, m)));
  members.forEach((m, i) => assert.equal(md5(readFileSync(join(dir, m))), md5(entries[i]!.data), m));
  assert.deepEqual(readdirSync(dir).filter((f) => !f.startsWith('.')).sort(), [...members].sort());
  assert.equal(locateDataset('cifar10', { dataDir: root }).dir, dir);
});

test('an unknown dataset name is one line naming the known ones', async () => {
  await assert.rejects(fetchDataset('imagenet', { log: quiet }), /unknown dataset "imagenet" \(known: mnist, fashion_mnist, cifar10/);
});
