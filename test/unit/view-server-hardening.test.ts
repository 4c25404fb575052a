// The view server against a runs root that other processes change under it (issue 15 item 10):
// a FIFO cannot wedge file serving, a refused save creates nothing outside the root, a run
// folder swapped for a symlink is not written through, opens are checked on
// the descriptor, big or many concurrent uploads stay within a small memory bound, and concurrent
// saves to one path are refused while one is in flight (issue 23 item 5).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../../runner/storage/atomic-write.ts';
import { ContainmentError, createFileInside, openRegularFile } from '../../runner/storage/contained-fs.ts';
import { MAX_UPLOADS, startViewServer, type ViewServer } from '../../runner/view-server/server.ts';

const base = mkdtempSync(join(tmpdir(), 'earlyphase-view-'));
process.env.HOME = join(base, 'home');
delete process.env.EARLYPHASE_DATA;
const root = join(base, 'runs');
const outside = join(base, 'outside');
const viewerDir = join(base, 'viewer');
const fifos: string[] = [];
const SAVE = { 'x-earlyphase-save': '1' };

interface Reply { status: number; text: string }

/** One request; `body` chunks are written with backpressure; fails after `timeoutMs` instead of hanging. */
function http(url: string, path: string, opts: { method?: string; body?: string | Uint8Array; timeoutMs?: number } = {}): Promise<Reply> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.method === 'PUT' ? SAVE : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error(`${path}: no answer within ${opts.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A chunked PUT the caller feeds: `send` resolves when the chunk is flushed, `end` gives the reply. */
function upload(url: string, path: string): { req: ClientRequest; send: (c: Uint8Array) => Promise<void>; reply: Promise<Reply> } {
  const u = new URL(url);
  let req!: ClientRequest;
  const reply = new Promise<Reply>((resolve, reject) => {
    req = request({ host: u.hostname, port: u.port, path, method: 'PUT', headers: SAVE }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
  });
  const send = (c: Uint8Array) => new Promise<void>((resolve, reject) => {
    if (req.write(c)) { resolve(); return; }
    const done = (e?: Error) => { req.off('drain', done); req.off('error', done); if (e) reject(e); else resolve(); };
    req.on('drain', done); req.on('error', done);
  });
  return { req, send, reply };
}

const outsideFiles = () => readdirSync(outside, { recursive: true }).map(String).sort();

before(() => {
  for (const d of [root, outside, viewerDir, join(root, 'train_fifo')]) mkdirSync(d, { recursive: true });
  writeFileSync(join(viewerDir, 'index.html'), '<!doctype html>');
  writeFileSync(join(outside, 'keep.txt'), 'outside');
  writeFileSync(join(root, 'train_fifo', 'done.json'), '{"ok":1}');
  for (const f of ['pipe.json', 'model.safetensors']) {
    const p = join(root, 'train_fifo', f);
    assert.equal(spawnSync('mkfifo', [p]).status, 0, 'mkfifo');
    fifos.push(p);
  }
});
after(() => {
  // Had a reader blocked on a FIFO (the old behaviour), opening the write end frees its thread.
  for (const p of fifos) { try { closeSync(openSync(p, constants.O_WRONLY | constants.O_NONBLOCK)); } catch { /* no reader: fine */ } }
  rmSync(base, { recursive: true, force: true });
});

describe('view server under a changing root', () => {
  let server: ViewServer;
  before(async () => { server = await startViewServer({ root, viewerDir }); });
  after(() => server.close());

  test('a FIFO is refused at once, every time, and file serving goes on', async () => {
    for (let i = 0; i < 8; i++) {
      for (const f of ['pipe.json', 'model.safetensors']) {
        const r = await http(server.url, `/runs/train_fifo/${f}`, { timeoutMs: 3000 });
        assert.equal(r.status, 404, r.text);
        assert.match(JSON.parse(r.text).error, new RegExp(`${f} is not a regular file`));
      }
    }
    assert.equal((await http(server.url, '/runs/train_fifo/done.json')).text, '{"ok":1}');
    const files = JSON.parse((await http(server.url, '/api/files?dir=train_fifo', { timeoutMs: 3000 })).text);
    assert.equal(files['train_fifo/done.json'], '{"ok":1}');
    assert.equal(files['train_fifo/pipe.json'], undefined);
  });

  test('a refused save creates no folder outside the root, even through a symlink inside a run folder', async () => {
    assert.equal((await http(server.url, '/runs/train_s/a.json', { method: 'PUT', body: '{}' })).status, 200);
    symlinkSync(outside, join(root, 'train_s', 'sub'));
    const before = outsideFiles();
    for (const path of ['/runs/train_s/sub/deeper/x.json', '/runs/train_s/sub/x.json']) {
      const r = await http(server.url, path, { method: 'PUT', body: '{"evil":1}' });
      assert.equal(r.status, 403, r.text);
      assert.match(JSON.parse(r.text).error, /sub is not a folder inside the served folder/);
    }
    assert.deepEqual(outsideFiles(), before);
    assert.equal(existsSync(join(outside, 'deeper')), false);
  });

  test('a server-made run folder replaced by a symlink is not written through', async () => {
    // (A folder replaced by another real folder is still inside the root; the file system may even
    // give it the same inode, so only the escape is what this guards.)
    assert.equal((await http(server.url, '/runs/train_swap/a.json', { method: 'PUT', body: '{}' })).status, 200);
    rmSync(join(root, 'train_swap'), { recursive: true });
    symlinkSync(outside, join(root, 'train_swap'));
    for (const path of ['/runs/train_swap/b.json', '/runs/train_swap/sub/b.json']) {
      const r = await http(server.url, path, { method: 'PUT', body: '{"evil":1}' });
      assert.equal(r.status, 403, r.text);
      assert.match(JSON.parse(r.text).error, /run folder train_swap was replaced since this server created it/);
    }
    assert.deepEqual(outsideFiles(), ['keep.txt']);
    // A refused first save into a new folder leaves no empty folder behind.
    const r = await http(server.url, '/runs/train_gone/x/y.sha256', { method: 'PUT', body: '{}' });
    assert.equal(r.status, 403);
    assert.equal(existsSync(join(root, 'train_gone')), false);
  });

  test('opens are checked on the descriptor: a path that leads outside once opened is refused (swap race)', async () => {
    // What a swap between the containment check and open() amounts to: the path handed over now
    // resolves outside. The descriptor's real location is what counts.
    const realRoot = root;
    await assert.rejects(openRegularFile(join(outside, 'keep.txt'), realRoot, 'keep.txt'),
      (e: unknown) => e instanceof ContainmentError && e.status === 403 && /leads outside/.test(e.message));
    await assert.rejects(createFileInside(join(outside, 'new.json'), realRoot, 'new.json'),
      (e: unknown) => e instanceof ContainmentError && e.status === 403);
    assert.equal(existsSync(join(outside, 'new.json')), false, 'a file created outside is removed again');
    // and a symlink as the last component is never followed
    symlinkSync(join(outside, 'keep.txt'), join(root, 'train_fifo', 'link.json'));
    await assert.rejects(openRegularFile(join(root, 'train_fifo', 'link.json'), realRoot, 'link.json'),
      (e: unknown) => e instanceof ContainmentError && e.status === 404);
  });

  test(`concurrent big uploads stream to disk: memory stays bounded, the server answers meanwhile, at most ${MAX_UPLOADS} at once`, async () => {
    const SIZE = 48 * 2 ** 20, CHUNK = new Uint8Array(2 ** 20).map((_, i) => (i * 31) % 251);
    const rss0 = process.memoryUsage.rss();
    let peak = rss0;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()); }, 5);
    try {
      const ups = [0, 1, 2, 3].map((i) => upload(server.url, `/runs/train_big/file_${i}.bin`));
      const answered: number[] = [];
      await Promise.all([
        ...ups.map(async (u) => { for (let at = 0; at < SIZE; at += CHUNK.length) await u.send(CHUNK); u.req.end(); }),
        (async () => { for (let i = 0; i < 3; i++) { const t0 = performance.now(); await http(server.url, '/api/info'); answered.push(performance.now() - t0); } })(),
      ]);
      const replies = await Promise.all(ups.map((u) => u.reply));
      assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 200], replies.map((r) => r.text).join('; '));
      assert.ok(answered.every((ms) => ms < 2000), `info answered in ${answered.map(Math.round).join(', ')} ms during the uploads`);
    } finally {
      clearInterval(sampler);
    }
    const grew = (peak - rss0) / 2 ** 20;
    // 4 × 48 MiB were buffered whole before (then concatenated): ≥ 192 MiB.
    assert.ok(grew < 96, `memory grew by ${grew.toFixed(0)} MiB for 4 × 48 MiB uploads`);
    let hash = '';
    { const h = (await import('node:crypto')).createHash('sha256'); for (let at = 0; at < SIZE; at += CHUNK.length) h.update(CHUNK); hash = h.digest('hex'); }
    for (let i = 0; i < 4; i++) {
      const f = join(root, 'train_big', `file_${i}.bin`);
      assert.equal(statSync(f).size, SIZE);
      assert.equal(readFileSync(`${f}.sha256`, 'utf8'), `${hash}  file_${i}.bin\n`);
    }
    assert.deepEqual(readdirSync(join(root, 'train_big')).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
    rmSync(join(root, 'train_big'), { recursive: true });

    // The cap: MAX_UPLOADS open uploads, the next is refused at once, the open ones still land.
    const open = Array.from({ length: MAX_UPLOADS }, (_, i) => upload(server.url, `/runs/train_cap/f${i}.json`));
    await Promise.all(open.map((u) => u.send(new TextEncoder().encode('{"part":'))));
    for (const t0 = Date.now(); JSON.parse((await http(server.url, '/api/info')).text).uploads < MAX_UPLOADS;) {
      assert.ok(Date.now() - t0 < 30_000, 'the uploads never all started');
      await new Promise((r) => setTimeout(r, 10));
    }
    const extra = await http(server.url, '/runs/train_cap/extra.json', { method: 'PUT', body: '{}' });
    assert.equal(extra.status, 503, extra.text);
    assert.match(JSON.parse(extra.text).error, new RegExp(`${MAX_UPLOADS} saves are already in progress`));
    for (const u of open) u.req.end('1}');
    assert.deepEqual((await Promise.all(open.map((u) => u.reply))).map((r) => r.status), new Array(MAX_UPLOADS).fill(200));
    assert.equal(readFileSync(join(root, 'train_cap', 'f3.json'), 'utf8'), '{"part":1}');
    assert.equal(JSON.parse((await http(server.url, '/api/info')).text).uploads, 0);
    assert.equal(readFileSync(join(root, 'train_cap', 'f3.json.sha256'), 'utf8'), `${sha256Hex('{"part":1}')}  f3.json\n`);
  });

  test('simultaneous saves to one path: one goes ahead, the others are refused (409) while it is in flight, and none is told it saved what it did not', async () => {
    const N = 6, path = '/runs/train_same/metrics.csv', enc = (t: string) => new TextEncoder().encode(t);
    const ups = Array.from({ length: N }, () => upload(server.url, path));
    const replies: (Reply | null)[] = new Array(N).fill(null);
    ups.forEach((u, i) => { u.reply.then((r) => { replies[i] = r; }, () => {}); });
    try {
      await Promise.all(ups.map((u, i) => u.send(enc(`body ${i};`))));
      // Every request has started; all but one are answered while that one's body is still open.
      for (const t0 = Date.now(); replies.filter(Boolean).length < N - 1; await new Promise((r) => setTimeout(r, 10))) {
        assert.ok(Date.now() - t0 < 30_000, `answered: ${replies.map((r) => r?.status ?? 'pending').join(', ')}`);
      }
      const winner = replies.findIndex((r) => r === null);
      for (const [i, r] of replies.entries()) {
        if (i === winner) continue;
        assert.equal(r!.status, 409, r!.text);
        assert.match(JSON.parse(r!.text).error, /^train_same\/metrics\.csv is being saved by another request; this save was refused/);
      }
      ups[winner]!.req.end('the rest');
      assert.equal((await ups[winner]!.reply).status, 200);
      assert.equal(readFileSync(join(root, 'train_same', 'metrics.csv'), 'utf8'), `body ${winner};the rest`);
    } finally {
      for (const u of ups) u.req.destroy();
    }
    // Serialised, not barred: once it has finished, the next save of that path goes ahead.
    assert.equal((await http(server.url, path, { method: 'PUT', body: 'second' })).status, 200);
    assert.equal(readFileSync(join(root, 'train_same', 'metrics.csv'), 'utf8'), 'second');
    assert.deepEqual(readdirSync(join(root, 'train_same')).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
  });
});
