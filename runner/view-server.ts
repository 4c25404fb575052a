// The HTTP server behind `earlyphase view`: the built viewer pages, the run folders under --root
// (read, list, and saves of new runs from the run-in-tab page), and the dataset files that
// runner/datasets.ts locates, so a browser tab trains on the same bytes as the CLI.
//
// It serves files from a user's disk, so every path goes through one resolver: the URL path is
// split into percent-decoded segments BEFORE anything else, a segment that is empty (absolute
// paths, `//`), starts with a dot (`.`, `..`, hidden and temporary files) or holds `/`, `\` or NUL
// after decoding is refused, and the real path (symlinks followed) must still lie inside the
// served folder. Decoding exactly once means `%252e%252e` is the literal name "%2e%2e", never `..`.
// Files are opened by runner/contained-fs.ts: regular files only, without blocking (a FIFO
// cannot wedge the server), re-checked on the open descriptor against symlink swaps.
// Saves may only create run folders: a PUT into a folder that existed before this server created
// it (or that was replaced since) is refused, so a page can never overwrite a CLI run; its
// sub-folders are made one level at a time, each checked inside before the next. Upload bodies
// are streamed to a temporary file beside their final name, at most MAX_UPLOADS at a time, so the
// memory they take is bounded (see MAX_UPLOADS) whatever their sizes and number. One save per
// path at a time: a second PUT to a path whose save is in flight is refused (409), so no client is
// told its save succeeded while another body replaced it. Bound to
// loopback, requests must name a loopback Host (a DNS-rebinding site would send its own name).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { readdir, realpath, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { UserError } from '../src/errors.ts';
import { checksumSidecar } from '../src/train/hash.ts';
import { checksumPath, writeFileAtomic } from './atomic-write.ts';
import { ContainmentError, createFileInside, isInside, mkdirInside, openRegularFile } from './contained-fs.ts';
import { DatasetNotFoundError, locateDataset } from './datasets.ts';
import { buildViewer } from './viewer-build.ts';

export interface ViewServerOptions {
  /** The runs root (must exist). */
  root: string;
  /** --data-dir, searched first for dataset files. */
  dataDir?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The built viewer; default: a fresh buildViewer(). */
  viewerDir?: string;
  /** Whether pages may save new run folders (false with --read-only). */
  write?: boolean;
}

export interface ViewServer {
  url: string;
  close(): Promise<void>;
}

/** Datasets a browser tab can train on (synthetic is generated in the page, it has no files). */
export const VIEW_DATASETS = ['mnist', 'fashion_mnist', 'cifar10'] as const;
type ViewDataset = (typeof VIEW_DATASETS)[number];

// A whole checkpoint of the largest model (ResNet-20 weights, momenta and masks) is a few MB; 512 MiB
// leaves room for any run file while stopping a runaway upload from filling the memory.
const MAX_PUT_BYTES = 512 * 2 ** 20;
// Saves in progress at once; more get 503 (the page saves a run's files a few at a time). Each
// holds one socket chunk (≤ 64 KiB) while it is written to disk and the socket is paused, so
// upload bodies take at most ~MAX_UPLOADS × 128 KiB (1 MiB) of memory together: four 400 MiB
// uploads took 3.3 GB when bodies were buffered whole.
export const MAX_UPLOADS = 8;
// /api/files hands text to the results browser; bigger files are trajectories no page parses whole.
// Other files are listed by name only (null): the report reads some names, e.g. level_1's
// model_ep<E>_it<I>.safetensors marks the rewind point.
const MAX_TEXT_FILE_BYTES = 20 * 2 ** 20;
const TEXT_EXTENSIONS = new Set(['.json', '.csv', '.txt']);
const SAVE_HEADER = 'x-earlyphase-save';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.sha256': 'text/plain; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml',
  // Served as the bytes on disk (no content-encoding): the page inflates them with DecompressionStream.
  '.gz': 'application/gzip', '.safetensors': 'application/octet-stream', '.bin': 'application/octet-stream',
};

/** A request the server refuses on purpose; `message` goes back as JSON `{ error }`. */
class Refusal extends ContainmentError {}

export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/i.test(host);
}

/** Refuses segments that could leave the folder or reach hidden files; `decoded` segments are used as names. */
function checkSegments(decoded: string[]): string[] {
  for (const s of decoded) {
    if (s === '') throw new Refusal(403, 'empty path segment (absolute paths and // are not served)');
    if (s.startsWith('.')) throw new Refusal(403, `path segment "${s}" starts with a dot (., .. and hidden files are not served)`);
    if (/[\\/\0]/.test(s)) throw new Refusal(403, 'a path segment holds an encoded /, a backslash or a NUL byte');
  }
  return decoded;
}

/** The decoded, checked segments of a raw URL path ('' → none). */
function urlSegments(raw: string): string[] {
  if (raw === '') return [];
  return checkSegments(raw.split('/').map((part) => {
    try { return decodeURIComponent(part); } catch { throw new Refusal(400, 'malformed percent-encoding in the path'); }
  }));
}

/** The checked segments of a query value (already decoded by URLSearchParams: decoding again would double-decode). */
function querySegments(value: string | null): string[] {
  return value ? checkSegments(value.split('/')) : [];
}

/** The real path of `segments` inside `folder` (and the folder's real path): 404 when missing, 403 when a symlink leads outside. */
async function resolveInside(folder: string, segments: string[]): Promise<string> {
  return (await resolveWithin(folder, segments)).real;
}

async function resolveWithin(folder: string, segments: string[]): Promise<{ real: string; realFolder: string }> {
  const realFolder = await realpath(folder);
  let real: string;
  try {
    real = await realpath(join(realFolder, ...segments));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Refusal(404, `not found: ${segments.join('/')}`);
    throw e;
  }
  if (!isInside(real, realFolder)) throw new Refusal(403, `${segments.join('/')} leads outside the served folder`);
  return { real, realFolder };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, at: { real: string; realFolder: string }, name: string): Promise<void> {
  const { fh, size } = await openRegularFile(at.real, at.realFolder, name);
  res.writeHead(200, {
    'content-type': TYPES[extname(name)] ?? 'application/octet-stream', 'content-length': size,
    'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') { await fh.close(); res.end(); return; }
  const stream = fh.createReadStream();
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** write(2) may write less than asked (a full disk, a signal); the rest follows or the error does. */
async function writeAll(fh: FileHandle, c: Buffer): Promise<void> {
  for (let at = 0; at < c.length;) at += (await fh.write(c, at, c.length - at)).bytesWritten;
}

/**
 * Streams the request body into `fh`, one chunk at a time (the socket is paused while a chunk is
 * written), hashing it; refused (413) past MAX_PUT_BYTES, rejected when the client goes away.
 */
function receiveBody(req: IncomingMessage, fh: FileHandle): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  return new Promise((resolveBody, reject) => {
    let size = 0, settled = false, writing: Promise<void> = Promise.resolve();
    const settle = (e?: Error) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      if (e) { req.resume(); reject(e); } // drain the rest so the refusal can still be sent
      else resolveBody({ bytes: size, sha256: hash.digest('hex') });
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_PUT_BYTES) { settle(new Refusal(413, `a saved file may be at most ${MAX_PUT_BYTES / 2 ** 20} MiB`)); return; }
      hash.update(c);
      req.pause();
      writing = writeAll(fh, c).then(() => { if (!settled) req.resume(); }, (e: Error) => settle(e));
    };
    req.on('data', onData);
    req.on('end', () => { void writing.then(() => settle()); });
    req.on('close', () => { if (!req.complete) settle(new Refusal(400, 'the upload was cut off')); });
  });
}

export async function startViewServer(opts: ViewServerOptions): Promise<ViewServer> {
  const host = opts.host ?? '127.0.0.1';
  const write = opts.write ?? true;
  const root = resolve(opts.root);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`runs root ${root} is not a folder`);
  const realRoot = realpathSync(root);
  const viewerDir = opts.viewerDir ?? await buildViewer();
  // Run folders this server created, by identity (device, inode): the only ones a PUT may write
  // into. A symlink put in a created folder's place never matches (lstat sees the link).
  const created = new Map<string, { dev: number; ino: number }>();
  let uploads = 0;
  /** Paths (relative to the root) whose save is in flight. */
  const saving = new Set<string>();
  let allowedHosts: Set<string> | null = null;

  function locate(name: ViewDataset) {
    try {
      return locateDataset(name, { dataDir: opts.dataDir });
    } catch (e) {
      if (e instanceof DatasetNotFoundError) return e;
      throw e;
    }
  }

  function info() {
    const datasets: Record<string, unknown> = {};
    for (const name of VIEW_DATASETS) {
      const found = locate(name);
      if (found instanceof Error) { datasets[name] = { available: false, reason: found.message }; continue; }
      const url = (p: string) => `/data/${name}/${encodeURIComponent(basename(p))}`;
      const [trainImages, trainLabels] = found.train.map(url), [testImages, testLabels] = found.test.map(url);
      datasets[name] = {
        available: true,
        files: name === 'cifar10' ? { train: found.train.map(url), test: found.test.map(url) } : { trainImages, trainLabels, testImages, testLabels },
      };
    }
    return { root, write, uploads, datasets };
  }

  /** Only a file that locateDataset found for that dataset, and only inside the folder it was found in. */
  async function datasetFile(segments: string[]): Promise<{ real: string; realFolder: string }> {
    const [name, file] = segments;
    if (segments.length !== 2 || !(VIEW_DATASETS as readonly string[]).includes(name!)) throw new Refusal(404, `no dataset file ${segments.join('/')}`);
    const found = locate(name as ViewDataset);
    if (found instanceof Error) throw new Refusal(404, `dataset ${name} is not available: ${found.message.split('\n')[0]}`);
    if (![...found.train, ...found.test].some((p) => basename(p) === file)) throw new Refusal(404, `${file} is not a file of dataset ${name}`);
    return resolveWithin(found.dir, [file!]);
  }

  async function list(segments: string[]) {
    const dir = await resolveInside(root, segments);
    if (!(await stat(dir)).isDirectory()) throw new Refusal(404, `${segments.join('/')} is not a folder`);
    const rows: { name: string; dir: boolean }[] = [];
    for (const name of await readdir(dir)) {
      if (name.startsWith('.')) continue;
      const real = await resolveInside(root, [...segments, name]).catch((e) => { if (e instanceof Refusal) return null; throw e; });
      const st = real && await stat(real).catch(() => null);
      if (st) rows.push({ name, dir: st.isDirectory() });
    }
    return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A text file's contents, or null when it is not a regular file inside the root (or vanished). */
  async function readText(real: string, name: string): Promise<string | null> {
    const opened = await openRegularFile(real, realRoot, name).catch(() => null);
    if (!opened) return null;
    try { return await opened.fh.readFile('utf8'); } catch { return null; } finally { await opened.fh.close(); }
  }

  /** Every file below `segments` keyed by its path relative to the root: the text of .json/.csv/.txt files, null for the rest. */
  async function resultFiles(segments: string[]): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    const seen = new Set<string>(); // real folders already walked: a symlink to an ancestor must not loop
    const walk = async (segs: string[]): Promise<void> => {
      const dir = await resolveInside(root, segs);
      if (seen.has(dir)) return;
      seen.add(dir);
      for (const name of (await readdir(dir)).sort()) {
        if (name.startsWith('.')) continue;
        const real = await resolveInside(root, [...segs, name]).catch((e) => { if (e instanceof Refusal) return null; throw e; });
        // Files may vanish between readdir and stat while a run is writing; skip them.
        const st = real && await stat(real).catch(() => null);
        if (!st) continue;
        if (st.isDirectory()) await walk([...segs, name]);
        else if (st.isFile()) {
          const text = TEXT_EXTENSIONS.has(extname(name)) && st.size <= MAX_TEXT_FILE_BYTES ? await readText(real!, name) : null;
          out[[...segs, name].join('/')] = text;
        }
      }
    };
    const top = await resolveInside(root, segments);
    if (!(await stat(top)).isDirectory()) throw new Refusal(404, `${segments.join('/')} is not a folder`);
    await walk(segments);
    return out;
  }

  async function save(req: IncomingMessage, segments: string[]): Promise<{ path: string; bytes: number }> {
    if (!write) throw new Refusal(403, 'this server is read-only (started with --read-only)');
    if (req.headers[SAVE_HEADER] !== '1') throw new Refusal(403, `a save must carry the header ${SAVE_HEADER}: 1`);
    if (segments.length < 2) throw new Refusal(403, 'a save names a file inside a run folder: PUT /runs/<run folder>/<file>');
    if (segments.at(-1)!.endsWith('.sha256')) throw new Refusal(403, 'checksum sidecars are written by the server, not uploaded');
    if (Number(req.headers['content-length']) > MAX_PUT_BYTES) throw new Refusal(413, `a saved file may be at most ${MAX_PUT_BYTES / 2 ** 20} MiB`);
    // Counted before the first await, so MAX_UPLOADS holds however many requests arrive together.
    if (uploads >= MAX_UPLOADS) throw new Refusal(503, `${MAX_UPLOADS} saves are already in progress; retry when one has finished`);
    // Also before the first await: of simultaneous saves to one path exactly one goes ahead.
    const path = segments.join('/');
    if (saving.has(path)) throw new Refusal(409, `${path} is being saved by another request; this save was refused (retry when that one has finished)`);
    saving.add(path);
    uploads++;
    try { return await saveFile(req, segments); } finally { uploads--; saving.delete(path); }
  }

  async function saveFile(req: IncomingMessage, segments: string[]): Promise<{ path: string; bytes: number }> {
    const [folder, ...inner] = segments as [string, ...string[]];
    const file = inner.at(-1)!, subdirs = inner.slice(0, -1);
    const folderPath = join(realRoot, folder);
    // Synchronous from the lookup to created.set: parallel first saves into one new folder must
    // see one claim, not race each other's mkdir.
    const claim = created.get(folder);
    let claimedNow = false;
    if (claim) {
      const st = lstatSync(folderPath, { throwIfNoEntry: false });
      if (!st || st.isSymbolicLink() || !st.isDirectory() || st.dev !== claim.dev || st.ino !== claim.ino) {
        throw new Refusal(403, `run folder ${folder} was replaced since this server created it; pages only write into folders they created`);
      }
    } else {
      // mkdir without `recursive` fails when the name exists (a CLI run, a symlink, a file): the claim is atomic.
      try { mkdirSync(folderPath); } catch {
        throw new Refusal(403, `run folder ${folder} already exists and was not created by this server; pages only create new run folders`);
      }
      const st = lstatSync(folderPath);
      created.set(folder, { dev: st.dev, ino: st.ino });
      claimedNow = true;
    }
    const path = segments.join('/');
    let tmp: string | undefined;
    try {
      const dir = await mkdirInside(folderPath, subdirs, folderPath);
      tmp = join(dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
      const fh = await createFileInside(tmp, folderPath, path);
      let body: { bytes: number; sha256: string };
      try {
        body = await receiveBody(req, fh);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // Checked again just before the rename; the old sidecar goes first (as in writeFileWithChecksum):
      // a crash in between leaves a file without a checksum, never one with a stale checksum.
      await mkdirInside(folderPath, subdirs, folderPath);
      const final = join(dir, file);
      await unlink(checksumPath(final)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
      await rename(tmp, final);
      tmp = undefined;
      await writeFileAtomic(checksumPath(final), checksumSidecar(body.sha256, file));
      return { path, bytes: body.bytes };
    } catch (e) {
      if (tmp) await unlink(tmp).catch(() => {});
      // A refused first save leaves no empty run folder behind.
      if (claimedNow && await rmdir(folderPath).then(() => true, () => false)) created.delete(folder);
      throw e;
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (allowedHosts && !allowedHosts.has((req.headers.host ?? '').toLowerCase())) {
      throw new Refusal(403, `Host "${req.headers.host ?? ''}" is not this server (a loopback server answers only loopback names)`);
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    if (!path.startsWith('/')) throw new Refusal(400, 'the request target must be a path');
    const method = req.method ?? 'GET';
    const isRuns = path.startsWith('/runs/');
    if (isRuns && method === 'PUT') { sendJson(res, 200, await save(req, urlSegments(path.slice('/runs/'.length)))); return; }
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', isRuns ? 'GET, HEAD, PUT' : 'GET, HEAD');
      throw new Refusal(405, `method ${method} is not allowed on ${isRuns ? '/runs/' : 'this path'}`);
    }
    if (isRuns) {
      const segs = urlSegments(path.slice('/runs/'.length));
      await sendFile(req, res, await resolveWithin(root, segs), segs.at(-1) ?? '');
    } else if (path === '/api/info') sendJson(res, 200, info());
    else if (path === '/api/list') sendJson(res, 200, await list(querySegments(query.get('dir'))));
    else if (path === '/api/files') sendJson(res, 200, await resultFiles(querySegments(query.get('dir'))));
    else if (path.startsWith('/api/')) throw new Refusal(404, `no API route ${path}`);
    else if (path.startsWith('/data/')) {
      const segs = urlSegments(path.slice('/data/'.length));
      await sendFile(req, res, await datasetFile(segs), segs[1]!);
    } else {
      const segs = path === '/' ? ['index.html'] : urlSegments(path.slice(1));
      await sendFile(req, res, await resolveWithin(viewerDir, segs), segs.at(-1)!);
    }
  }

  const server = createServer((req, res) => {
    route(req, res).catch((e) => {
      if (res.headersSent) { res.destroy(); return; }
      // A refusal before the body was read leaves the rest of it on the wire: the connection cannot carry another request.
      if (!req.complete) res.setHeader('connection', 'close');
      if (e instanceof ContainmentError) { sendJson(res, e.status, { error: e.message }); return; }
      console.error(`earlyphase view: ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
      sendJson(res, 500, { error: `internal error: ${(e as Error)?.message ?? e}` });
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolveListen(); });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port ?? 0;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  if (isLoopback(host)) allowedHosts = new Set(['127.0.0.1', 'localhost', '[::1]', urlHost.toLowerCase()].map((h) => `${h}:${port}`));
  return {
    url: `http://${urlHost}:${port}`,
    // A browser tab keeps its connections open; drop them so close() (and Ctrl-C) returns at once.
    close: () => new Promise<void>((done) => { server.close(() => done()); server.closeAllConnections(); }),
  };
}
