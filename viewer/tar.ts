// A minimal ustar writer (POSIX.1-1988): regular files only, which is all a run folder holds.
// Enough for `tar xf` and every common archiver; no compression (safetensors barely compress).
const BLOCK = 512;

export interface TarEntry { path: string; data: Uint8Array }

function field(h: Uint8Array, offset: number, length: number, value: string): void {
  const b = new TextEncoder().encode(value);
  if (b.length > length) throw new Error(`tar: ${JSON.stringify(value)} does not fit a ${length}-byte header field`);
  h.set(b, offset);
}

const octal = (n: number, length: number) => n.toString(8).padStart(length - 1, '0'); // NUL-terminated

/** ustar stores long paths as prefix (≤155 bytes) + '/' + name (≤100 bytes). */
function splitPath(path: string): [prefix: string, name: string] {
  if (new TextEncoder().encode(path).length <= 100) return ['', path];
  for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) {
    const prefix = path.slice(0, i), name = path.slice(i + 1);
    if (new TextEncoder().encode(prefix).length <= 155 && new TextEncoder().encode(name).length <= 100) return [prefix, name];
  }
  throw new Error(`tar: path ${path} is too long for ustar`);
}

function header(path: string, size: number, mtime: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const [prefix, name] = splitPath(path);
  field(h, 0, 100, name);
  field(h, 100, 8, octal(0o644, 8));
  field(h, 108, 8, octal(0, 8));
  field(h, 116, 8, octal(0, 8));
  field(h, 124, 12, octal(size, 12));
  field(h, 136, 12, octal(mtime, 12));
  field(h, 156, 1, '0');
  field(h, 257, 6, 'ustar\0');
  field(h, 263, 2, '00');
  field(h, 345, 155, prefix);
  // The checksum is taken with its own field read as eight spaces.
  h.fill(0x20, 148, 156);
  const sum = h.reduce((a, b) => a + b, 0);
  field(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

export function tarArchive(entries: readonly TarEntry[], mtime = Math.floor(Date.now() / 1000)): Uint8Array<ArrayBuffer> {
  const size = entries.reduce((a, e) => a + BLOCK + Math.ceil(e.data.length / BLOCK) * BLOCK, 0) + 2 * BLOCK;
  const out = new Uint8Array(size);
  let at = 0;
  for (const e of entries) {
    out.set(header(e.path, e.data.length, mtime), at);
    out.set(e.data, at + BLOCK);
    at += BLOCK + Math.ceil(e.data.length / BLOCK) * BLOCK;
  }
  return out; // the two zero blocks that end the archive are already there
}
