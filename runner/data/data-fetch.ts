// `earlyphase data fetch NAME`: downloads a dataset's official files into the data folder the
// other commands search (runner/data/datasets.ts), resuming a partial download and checking every file
// against its published MD5 (the checksums torchvision and the CIFAR page list). CIFAR-10's
// archive is then unpacked, only its six batch files and their names, into cifar-10-batches-bin/.
// What a mirror sends is bounded: a body larger than the file's published size is refused at once
// (Content-Length, or counted while it streams), its part file deleted; redirects are followed
// ourselves, at most MAX_REDIRECTS, and a loop is named as one.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../../src/errors.ts';
import { CIFAR10_TEST_FILES, CIFAR10_TRAIN_FILES } from '../../src/data/cifar.ts';

export interface RemoteFile {
  name: string; md5: string;
  /** Its size in bytes: a mirror that sends more is refused (a wrong or hostile server cannot fill the disk). */
  size: number;
}
export interface Manifest {
  /** Folder under the data root that the files go to (a layout runner/data/datasets.ts searches). */
  subdir: string;
  /** Base URLs tried in order; a file's URL is base + name. */
  mirrors: string[];
  files: RemoteFile[];
  /** CIFAR-10: the downloaded archive is unpacked into this folder under subdir. */
  unpack?: { into: string; members: string[] };
}

export const MANIFESTS: Record<'mnist' | 'fashion_mnist' | 'cifar10', Manifest> = {
  mnist: {
    subdir: 'mnist',
    mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
    files: [
      { name: 'train-images-idx3-ubyte.gz', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873', size: 9_912_422 },
      { name: 'train-labels-idx1-ubyte.gz', md5: 'd53e105ee54ea40749a09fcbcd1e9432', size: 28_881 },
      { name: 't10k-images-idx3-ubyte.gz', md5: '9fb629c4189551a2d022fa330f9573f3', size: 1_648_877 },
      { name: 't10k-labels-idx1-ubyte.gz', md5: 'ec29112dd5afa0611ce80d1b7f02629c', size: 4_542 },
    ],
  },
  fashion_mnist: {
    subdir: 'fashion_mnist',
    mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
      'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/'],
    files: [
      { name: 'train-images-idx3-ubyte.gz', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d', size: 26_421_880 },
      { name: 'train-labels-idx1-ubyte.gz', md5: '25c81989df183df01b3e8a0aad5dffbe', size: 29_515 },
      { name: 't10k-images-idx3-ubyte.gz', md5: 'bef4ecab320f06d8554ea6380940ec79', size: 4_422_102 },
      { name: 't10k-labels-idx1-ubyte.gz', md5: 'bb300cfdad3c16e7a12a480ee83cd310', size: 5_148 },
    ],
  },
  cifar10: {
    subdir: 'cifar10',
    mirrors: ['https://www.cs.toronto.edu/~kriz/'],
    files: [{ name: 'cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530', size: 170_052_171 }],
    unpack: { into: 'cifar-10-batches-bin', members: [...CIFAR10_TRAIN_FILES, ...CIFAR10_TEST_FILES] },
  },
};

export interface FetchOptions {
  /** --data-dir, else $EARLYPHASE_DATA, else ~/open_lth_datasets (where the other commands look by default). */
  dataDir?: string;
  env?: Record<string, string | undefined>;
  /** --mirror: one base URL used instead of the manifest's (a local copy, a proxy). */
  mirror?: string;
  /** Checksums and mirrors other than the official ones (tests serve generated files). */
  manifest?: Manifest;
  /** Give up on a connection that sends nothing for this long (the .part file stays; run again to resume). */
  idleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface FetchResult { dir: string; root: string; files: string[]; downloaded: string[] }

export const FETCHABLE = Object.keys(MANIFESTS) as (keyof typeof MANIFESTS)[];

function dataRoot(o: FetchOptions): string {
  const env = o.env ?? process.env;
  return resolve(o.dataDir ?? env.EARLYPHASE_DATA ?? join(homedir(), 'open_lth_datasets'));
}

async function md5Of(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const sizeOf = (p: string) => (existsSync(p) ? statSync(p).size : 0);
const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

/** Redirects followed per request; more, or a loop, is an error naming the chain. */
export const MAX_REDIRECTS = 5;

/** The mirror sends more than the file's size: what arrived is deleted, not kept for a resume. */
class TooLargeError extends Error {}

/** GETs `url`, following at most MAX_REDIRECTS redirects (http and https only); the response that is not one. */
async function get(url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  const chain = [url];
  for (;;) {
    const res = await fetch(chain.at(-1)!, { headers, signal, redirect: 'manual' });
    if (![301, 302, 303, 307, 308].includes(res.status)) return res;
    await res.body?.cancel();
    const location = res.headers.get('location');
    if (!location) throw new Error(`HTTP ${res.status} redirect without a Location`);
    const next = new URL(location, chain.at(-1)!);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new Error(`redirected to ${next.href}, which is not http(s)`);
    if (chain.includes(next.href)) throw new Error(`redirect loop: ${[...chain, next.href].join(' → ')}`);
    chain.push(next.href);
    if (chain.length > MAX_REDIRECTS + 1) throw new Error(`more than ${MAX_REDIRECTS} redirects: ${chain.join(' → ')}`);
  }
}

/**
 * Downloads url into `part`, appending from its current size with a Range request (a server that
 * ignores Range sends the whole file, which restarts the part). A body that would make the file
 * larger than `size` is refused at once and the part deleted. Throws on a network error or a
 * stalled connection; what arrived stays in `part` for the next attempt.
 */
async function download(url: string, part: string, size: number, idleMs: number, log: (l: string) => void): Promise<void> {
  let have = sizeOf(part);
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), idleMs);
  const alive = () => { clearTimeout(timer); timer = setTimeout(() => ac.abort(), idleMs); };
  const tooLarge = (what: string) => new TooLargeError(`${what}, but the file has ${size} bytes`);
  try {
    const res = await get(url, have > 0 ? { Range: `bytes=${have}-` } : {}, ac.signal);
    if (res.status === 416) return; // the part already holds the whole file
    if (res.status !== 200 && res.status !== 206) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    if (res.status === 200 && have > 0) { log(`${url}: the server does not resume; starting over`); have = 0; }
    const length = Number(res.headers.get('content-length') ?? NaN);
    const total = res.status === 206 ? have + length : length;
    if (total > size) throw tooLarge(`the server announces ${total} bytes${res.status === 206 ? ` (Content-Length ${length} after the ${have} kept)` : ' (Content-Length)'}`);
    const fd = openSync(part, have > 0 ? 'a' : 'w');
    let got = have, shown = Date.now();
    try {
      if (!res.body) throw new Error('empty response');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        alive();
        // Checked before the chunk is written: nothing past the file's size reaches the disk.
        if (got + chunk.length > size) throw tooLarge(`the server sent at least ${got + chunk.length} bytes${Number.isFinite(total) ? ` although it announced ${total}` : ''}`);
        writeSync(fd, chunk);
        got += chunk.length;
        if (Date.now() - shown > 2000) {
          shown = Date.now();
          log(`${url}: ${mib(got)}${Number.isFinite(total) ? ` of ${mib(total)} (${Math.floor(100 * got / total)}%)` : ''}`);
        }
      }
    } finally {
      closeSync(fd);
    }
    if (Number.isFinite(total) && got < total) throw new Error(`connection closed after ${got} of ${total} bytes`);
  } catch (e) {
    if (e instanceof TooLargeError) {
      ac.abort(); // stop receiving at once
      rmSync(part, { force: true });
      throw new Error(`${e.message}; refused, and the part file was deleted`);
    }
    const cause = (e as Error & { cause?: Error }).cause?.message; // fetch's own message is only "fetch failed"
    const why = ac.signal.aborted ? `nothing received for ${idleMs / 1000} s` : `${(e as Error).message}${cause ? ` (${cause})` : ''}`;
    throw new Error(`${why} (${sizeOf(part) ? `${mib(sizeOf(part))} kept in ${part}` : 'nothing kept'})`);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads the named regular-file members of a ustar archive (by base name under one folder; nothing else is written). */
export function tarMembers(tar: Uint8Array, folder: string, wanted: readonly string[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const text = (o: number, n: number) => new TextDecoder().decode(tar.subarray(o, o + n)).replace(/\0.*$/s, '');
  for (let at = 0; at + 512 <= tar.length;) {
    const name = text(at, 100);
    if (!name) break; // the two zero blocks at the end
    const prefix = text(at + 345, 155);
    const size = parseInt(text(at + 124, 12).trim() || '0', 8);
    const type = text(at + 156, 1) || '0';
    if (!Number.isFinite(size) || size < 0 || at + 512 + size > tar.length) throw new UserError(`archive member ${name}: bad size field; the download is damaged`);
    const path = prefix ? `${prefix}/${name}` : name;
    const base = path.replace(/^\.\//, '');
    if (type === '0' && base.startsWith(`${folder}/`) && wanted.includes(base.slice(folder.length + 1))) {
      out.set(base.slice(folder.length + 1), tar.slice(at + 512, at + 512 + size));
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

export async function fetchDataset(name: string, o: FetchOptions = {}): Promise<FetchResult> {
  if (!(FETCHABLE as string[]).includes(name)) {
    throw new UserError(`data fetch: unknown dataset "${name}" (known: ${FETCHABLE.join(', ')}; synthetic needs no files)`);
  }
  const m = o.manifest ?? MANIFESTS[name as keyof typeof MANIFESTS];
  const log = o.log ?? ((l: string) => console.error(l));
  const root = dataRoot(o);
  const dir = join(root, m.subdir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UserError(`data fetch: cannot create ${dir} (${(e as NodeJS.ErrnoException).code}); pass --data-dir with a folder you can write`);
  }
  const mirrors = o.mirror ? [o.mirror.endsWith('/') ? o.mirror : `${o.mirror}/`] : m.mirrors;
  const downloaded: string[] = [];
  for (const f of m.files) {
    const path = join(dir, f.name), part = `${path}.part`;
    if (existsSync(path) && await md5Of(path) === f.md5) { log(`${f.name}: already there, checksum ok`); continue; }
    // A part larger than the whole file cannot become it (left by a version without this bound).
    if (sizeOf(part) > f.size) { log(`${f.name}: ${part} is larger than the file (${f.size} bytes); starting over`); rmSync(part); }
    const errors: string[] = [];
    for (const base of mirrors) {
      const url = base + f.name;
      try {
        log(`${f.name}: ${sizeOf(part) > 0 ? `resuming at ${mib(sizeOf(part))} from` : 'downloading'} ${url}`);
        await download(url, part, f.size, o.idleTimeoutMs ?? 60_000, log);
      } catch (e) {
        errors.push(`${url}: ${(e as Error).message}`);
        continue;
      }
      const got = await md5Of(part);
      if (got === f.md5) {
        renameSync(part, path);
        downloaded.push(f.name);
        errors.length = 0;
        break;
      }
      // A complete file with the wrong bytes cannot be resumed into the right one: drop it.
      rmSync(part, { force: true });
      errors.push(`${url}: checksum mismatch (MD5 ${got}, expected ${f.md5}); the file was deleted`);
    }
    if (errors.length) {
      throw new UserError(`data fetch ${name}: ${f.name} could not be fetched — ${errors.join('; ')}. ` +
        'Run the same command again to resume, or pass --mirror <base URL> to use another copy.');
    }
  }
  const files = m.files.map((f) => join(dir, f.name));
  if (m.unpack) files.splice(0, files.length, ...await unpack(m, dir, log));
  log(`data: ${name} is in ${dir}; the commands find it there${o.dataDir || (o.env ?? process.env).EARLYPHASE_DATA ? ` with --data-dir ${root}` : ' by default'}`);
  return { dir, root, files, downloaded };
}

/** Unpacks the archive's batch files (skipped when all are already there with the archive unchanged). */
async function unpack(m: Manifest, dir: string, log: (l: string) => void): Promise<string[]> {
  const { into, members } = m.unpack!;
  const target = join(dir, into);
  const paths = members.map((n) => join(target, n));
  const stamp = join(target, '.unpacked-from');
  const archiveMd5 = m.files[0]!.md5;
  if (paths.every(existsSync) && existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === archiveMd5) return paths;
  log(`${m.files[0]!.name}: unpacking ${members.length} files into ${target}`);
  const tar = gunzipSync(await readFile(join(dir, m.files[0]!.name)));
  const got = tarMembers(tar, into, members);
  const missing = members.filter((n) => !got.has(n));
  if (missing.length) throw new UserError(`data fetch: ${m.files[0]!.name} lacks ${into}/${missing.join(', ')}; delete it and fetch again`);
  mkdirSync(target, { recursive: true });
  for (const [n, bytes] of got) {
    await writeFile(`${join(target, n)}.tmp`, bytes);
    renameSync(`${join(target, n)}.tmp`, join(target, n));
  }
  await writeFile(stamp, `${archiveMd5}\n`);
  return paths;
}
