// The HTTP server behind `earlyphase view`: the built viewer pages, the run folders under --root
// (read, list, and saves of new runs from the run-in-tab page), and the dataset files that
// runner/datasets.ts locates, so a browser tab trains on the same bytes as the CLI.
//
// It serves files from a user's disk, so every path goes through one resolver: the URL path is
// split into percent-decoded segments BEFORE anything else, a segment that is empty (absolute
// paths, `//`), starts with a dot (`.`, `..`, hidden and temporary files) or holds `/`, `\` or NUL
// after decoding is refused, and the real path (symlinks followed) must still lie inside the
// served folder. Decoding exactly once means `%252e%252e` is the literal name "%2e%2e", never `..`.
// Saves may only create run folders: a PUT into a folder that existed before this server created
// it is refused, so a page can never overwrite a CLI run. Bound to loopback, requests must name a
// loopback Host (a DNS-rebinding site would send its own name).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, extname, join, resolve, sep } from 'node:path';
import { UserError } from '../src/errors.ts';
import { DatasetNotFoundError, locateDataset } from './datasets.ts';
import { FsStorage } from './fs-storage.ts';
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
class Refusal extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

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

/** The real path of `segments` inside `folder`: 404 when missing, 403 when a symlink leads outside. */
async function resolveInside(folder: string, segments: string[]): Promise<string> {
  const realFolder = await realpath(folder);
  let real: string;
  try {
    real = await realpath(join(realFolder, ...segments));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Refusal(404, `not found: ${segments.join('/')}`);
    throw e;
  }
  if (real !== realFolder && !real.startsWith(realFolder + sep)) throw new Refusal(403, `${segments.join('/')} leads outside the served folder`);
  return real;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, path: string, name: string): Promise<void> {
  const fh = await open(path, 'r');
  let size: number;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Refusal(404, `${name} is not a file`);
    size = st.size;
  } catch (e) {
    await fh.close();
    throw e;
  }
  res.writeHead(200, {
    'content-type': TYPES[extname(name)] ?? 'application/octet-stream', 'content-length': size,
    'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') { await fh.close(); res.end(); return; }
  const stream = fh.createReadStream();
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** The request body, refused (413) past MAX_PUT_BYTES; rejects when the client goes away before the end. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooBig = () => new Refusal(413, `a saved file may be at most ${MAX_PUT_BYTES / 2 ** 20} MiB`);
  if (Number(req.headers['content-length']) > MAX_PUT_BYTES) return Promise.reject(tooBig());
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_PUT_BYTES) { chunks.push(c); return; }
      req.off('data', onData);
      req.resume(); // drain the rest so the 413 can still be sent
      reject(tooBig());
    };
    req.on('data', onData);
    req.on('end', () => resolveBody(Buffer.concat(chunks)));
    req.on('close', () => { if (!req.complete) reject(new Refusal(400, 'the upload was cut off')); });
  });
}

export async function startViewServer(opts: ViewServerOptions): Promise<ViewServer> {
  const host = opts.host ?? '127.0.0.1';
  const write = opts.write ?? true;
  const root = resolve(opts.root);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`runs root ${root} is not a folder`);
  const viewerDir = opts.viewerDir ?? await buildViewer();
  const storage = new FsStorage(root);
  // Run folders this server created: the only ones a PUT may write into.
  const created = new Set<string>();
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
    return { root, write, datasets };
  }

  /** Only a file that locateDataset found for that dataset, and only inside the folder it was found in. */
  async function datasetFile(segments: string[]): Promise<string> {
    const [name, file] = segments;
    if (segments.length !== 2 || !(VIEW_DATASETS as readonly string[]).includes(name!)) throw new Refusal(404, `no dataset file ${segments.join('/')}`);
    const found = locate(name as ViewDataset);
    if (found instanceof Error) throw new Refusal(404, `dataset ${name} is not available: ${found.message.split('\n')[0]}`);
    if (![...found.train, ...found.test].some((p) => basename(p) === file)) throw new Refusal(404, `${file} is not a file of dataset ${name}`);
    return resolveInside(found.dir, [file!]);
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
          const text = TEXT_EXTENSIONS.has(extname(name)) && st.size <= MAX_TEXT_FILE_BYTES ? await readFile(real!, 'utf8').catch(() => null) : null;
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
    const [folder] = segments;
    if (segments.length < 2) throw new Refusal(403, 'a save names a file inside a run folder: PUT /runs/<run folder>/<file>');
    if (segments.at(-1)!.endsWith('.sha256')) throw new Refusal(403, 'checksum sidecars are written by the server, not uploaded');
    const refuseExisting = () => new Refusal(403, `run folder ${folder} already exists and was not created by this server; pages only create new run folders`);
    if (!created.has(folder!) && statSync(join(root, folder!), { throwIfNoEntry: false })) throw refuseExisting();
    const bytes = await readBody(req);
    if (!created.has(folder!)) {
      // mkdir without `recursive` fails when the folder appeared meanwhile: the claim is atomic.
      try { mkdirSync(join(root, folder!)); } catch { throw refuseExisting(); }
      created.add(folder!);
    }
    // The sub-folders must stay inside the claimed folder even if someone put a symlink there.
    await mkdir(join(root, ...segments.slice(0, -1)), { recursive: true });
    await resolveInside(join(root, folder!), segments.slice(1, -1));
    const path = segments.join('/');
    await storage.write(path, bytes);
    return { path, bytes: bytes.length };
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
      await sendFile(req, res, await resolveInside(root, segs), segs.at(-1) ?? '');
    } else if (path === '/api/info') sendJson(res, 200, info());
    else if (path === '/api/list') sendJson(res, 200, await list(querySegments(query.get('dir'))));
    else if (path === '/api/files') sendJson(res, 200, await resultFiles(querySegments(query.get('dir'))));
    else if (path.startsWith('/api/')) throw new Refusal(404, `no API route ${path}`);
    else if (path.startsWith('/data/')) {
      const segs = urlSegments(path.slice('/data/'.length));
      await sendFile(req, res, await datasetFile(segs), segs[1]!);
    } else {
      const segs = path === '/' ? ['index.html'] : urlSegments(path.slice(1));
      await sendFile(req, res, await resolveInside(viewerDir, segs), segs.at(-1)!);
    }
  }

  const server = createServer((req, res) => {
    route(req, res).catch((e) => {
      if (res.headersSent) { res.destroy(); return; }
      // A refusal before the body was read leaves the rest of it on the wire: the connection cannot carry another request.
      if (!req.complete) res.setHeader('connection', 'close');
      if (e instanceof Refusal) { sendJson(res, e.status, { error: e.message }); return; }
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
