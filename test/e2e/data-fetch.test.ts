// `earlyphase data fetch` against a local HTTP server serving generated files: a download cut
// off mid-file resumes with a Range request, a file with the wrong bytes is refused and deleted,
// CIFAR-10's archive is unpacked (only its batch files), and what was fetched is where the other
// commands look for it. A hostile mirror is bounded: a body larger than the file (announced, or
// endless and chunked) is refused at once and its part deleted; redirects are followed up to a
// limit, and a loop says so.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fetchDataset, MANIFESTS, MAX_REDIRECTS, type Manifest } from '../../runner/data/data-fetch.ts';
import { locateDataset } from '../../runner/data/datasets.ts';
import { tarArchive } from '../../viewer/tar.ts';
import { UserError } from '../../src/errors.ts';
import { tempDir } from '../temp-dir.ts';
import { earlyphase } from '../cli.ts';

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
/** Bytes the hostile routes below have sent: what a client that does not stop would write. */
let hostileBytes = 0;
/** Past this the hostile routes cut the connection: a client that never stops fails the test, not the disk. */
const HOSTILE_CAP = 64 * 2 ** 20;
/** Sends `chunk` until the client goes away (with backpressure, so the server's memory stays flat). */
function endless(res: ServerResponse, chunk: Uint8Array): void {
  const pump = () => {
    while (!res.destroyed && !res.writableEnded) {
      if (hostileBytes > HOSTILE_CAP) { res.destroy(); return; }
      hostileBytes += chunk.length;
      if (!res.write(chunk)) { res.once('drain', pump); return; }
    }
  };
  pump();
}
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const path = (req.url ?? '/').slice(1);
  // Hostile mirrors: /huge/<f> announces 10^12 bytes, /endless/<f> sends a chunked body that never
  // ends, /loop/<f> redirects to itself, /hops/<n>/<f> redirects n times, then serves <f>.
  const hostile = /^(huge|endless|loop)\/(.+)$/.exec(path);
  if (hostile?.[1] === 'huge') { res.writeHead(200, { 'content-length': String(1e12) }); endless(res, new Uint8Array(65536)); return; }
  if (hostile?.[1] === 'endless') { res.writeHead(200); endless(res, new Uint8Array(65536)); return; }
  if (hostile?.[1] === 'loop') { res.writeHead(302, { location: `/loop/${hostile[2]}` }).end(); return; }
  const hops = /^hops\/(\d+)\/(.+)$/.exec(path);
  if (hops) { res.writeHead(302, { location: Number(hops[1]) > 1 ? `/hops/${Number(hops[1]) - 1}/${hops[2]}` : `/${hops[2]}` }).end(); return; }
  const name = decodeURIComponent(path);
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
after(() => { server.closeAllConnections(); server.close(); });

const quiet = () => {};

test('a cut-off download resumes with a Range request; files are checked and found where the commands look', async () => {
  const root = tempDir('earlyphase-fetch-');
  const files = MANIFESTS.fashion_mnist.files.map((f, i) => ({ name: f.name, data: gzipSync(bytes(200_000 + i, i)) }));
  for (const f of files) served.set(f.name, f.data);
  const manifest: Manifest = { subdir: 'fashion_mnist', mirrors: [url], files: files.map((f) => ({ name: f.name, md5: md5(f.data), size: f.data.length })) };
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
const cli = (args: string[]) => earlyphase(args, { timeoutMs: 60_000 }).then((r) => ({ status: r.status, stderr: r.err }));

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
  const manifest: Manifest = { ...MANIFESTS.cifar10, mirrors: [url], files: [{ name: 'cifar-10-binary.tar.gz', md5: md5(archive), size: archive.length }] };
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

test('a mirror that sends more than the file (announced, or an endless chunked body) is refused at once and its part file deleted', { timeout: 60_000 }, async () => {
  const root = tempDir('earlyphase-fetch-');
  const data = gzipSync(bytes(100_000, 3));
  served.set('one.gz', data);
  const manifest = (base: string): Manifest => ({ subdir: 'x', mirrors: [base], files: [{ name: 'one.gz', md5: md5(data), size: data.length }] });
  for (const [route, why] of [['huge', /the server announces 1000000000000 bytes \(Content-Length\), but the file has \d+ bytes; refused, and the part file was deleted/],
    ['endless', /the server sent at least \d+ bytes, but the file has \d+ bytes; refused, and the part file was deleted/]] as const) {
    hostileBytes = 0;
    const t0 = Date.now();
    await assert.rejects(fetchDataset('fashion_mnist', { dataDir: root, manifest: manifest(`${url}${route}/`), log: quiet }),
      (e: Error) => e instanceof UserError && why.test(e.message) && !e.message.includes('\n'));
    assert.ok(Date.now() - t0 < 10_000, `${route}: took ${Date.now() - t0} ms`);
    assert.deepEqual(readdirSync(join(root, 'x')), [], `${route}: something was left in the data folder`);
    // Stopped at once: the server got to send little more than the file's size (socket buffers), not 155 MiB.
    assert.ok(hostileBytes < data.length + 16 * 2 ** 20, `${route}: the server sent ${hostileBytes} bytes before the client stopped`);
  }
  // A part larger than the whole file (left by a version without the bound) is started over.
  writeFileSync(join(root, 'x', 'one.gz.part'), new Uint8Array(data.length + 1));
  const r = await fetchDataset('fashion_mnist', { dataDir: root, manifest: manifest(url), log: quiet });
  assert.deepEqual(r.downloaded, ['one.gz']);
  assert.equal(md5(readFileSync(join(root, 'x', 'one.gz'))), md5(data));
});

test('redirects are followed up to a limit; a loop and a longer chain are errors that say so', { timeout: 60_000 }, async () => {
  const root = tempDir('earlyphase-fetch-');
  const data = gzipSync(bytes(5_000, 4));
  served.set('two.gz', data);
  const manifest = (base: string): Manifest => ({ subdir: 'y', mirrors: [base], files: [{ name: 'two.gz', md5: md5(data), size: data.length }] });
  const ok = await fetchDataset('fashion_mnist', { dataDir: root, manifest: manifest(`${url}hops/${MAX_REDIRECTS}/`), log: quiet });
  assert.deepEqual(ok.downloaded, ['two.gz']);
  rmSync(join(root, 'y', 'two.gz'));
  await assert.rejects(fetchDataset('fashion_mnist', { dataDir: root, manifest: manifest(`${url}loop/`), log: quiet }),
    (e: Error) => e instanceof UserError && new RegExp(`redirect loop: ${url}loop/two\\.gz → ${url}loop/two\\.gz`).test(e.message));
  await assert.rejects(fetchDataset('fashion_mnist', { dataDir: root, manifest: manifest(`${url}hops/${MAX_REDIRECTS + 1}/`), log: quiet }),
    (e: Error) => e instanceof UserError && new RegExp(`more than ${MAX_REDIRECTS} redirects: ${url}hops/6/two\\.gz → .* → ${url}hops/1/two\\.gz → ${url}two\\.gz \\(nothing kept\\)`).test(e.message));
});

test('the CLI: a mirror announcing 10^12 bytes for Fashion-MNIST is one line, exit 2, and nothing is written', { timeout: 60_000 }, async () => {
  const root = tempDir('earlyphase-fetch-');
  const r = await cli(['data', 'fetch', 'fashion_mnist', '--data-dir', root, '--mirror', `${url}huge/`]);
  assert.equal(r.status, 2, r.stderr);
  const line = r.stderr.trim().split('\n').filter((l) => l.startsWith('earlyphase:'));
  assert.equal(line.length, 1, r.stderr);
  assert.match(line[0]!, /train-images-idx3-ubyte\.gz could not be fetched .*announces 1000000000000 bytes \(Content-Length\), but the file has 26421880 bytes; refused, and the part file was deleted/);
  assert.deepEqual(readdirSync(join(root, 'fashion_mnist')), []);
});
