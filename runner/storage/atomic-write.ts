// Atomic file writes and checksums for run folders. A stage's output is written to a temporary
// file in the same folder, fsynced, then renamed over the final name: rename within one file
// system is atomic, so a process killed at any moment leaves either the old file or the complete
// new one under the final name — never a partial file that a resumed run would trust.
// Checksums (SHA-256 in a `sha256sum`-compatible sidecar) catch what atomicity cannot: disk
// corruption, truncation by copying tools, or files edited by hand.
import { UserError } from '../../src/errors.ts';
import { checksumSidecar } from '../../src/io/digest.ts';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A file's contents do not match its recorded checksum (or the checksum file is malformed). */
export class ChecksumError extends UserError {
  override name = 'ChecksumError';
}

function tempName(path: string): string {
  // Same folder (rename across file systems is not atomic); dot-prefixed so listings skip it;
  // pid + random so two writers never share a temp file.
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

function asBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data;
}

/** Writes `data` to `path` atomically (temp file, fsync, rename, fsync of the folder). */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(asBytes(data));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await syncFolder(path);
}

/** The synchronous twin, for exit handlers and small files written between steps. */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempName(path);
  try {
    const fd = openSync(tmp, 'wx');
    try {
      const bytes = asBytes(data);
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at, bytes.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try { unlinkSync(tmp); } catch { /* never created, or already renamed */ }
    throw e;
  }
  syncFolderSync(path);
}

// The rename is durable only once the folder entry is on disk. Some platforms (Windows) cannot
// open or fsync a folder; there the rename is still atomic, just not yet durable — acceptable.
async function syncFolder(path: string): Promise<void> {
  try {
    const fh = await open(dirname(path), 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  } catch { /* see above */ }
}

function syncFolderSync(path: string): void {
  try {
    const fd = openSync(dirname(path), 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* see above */ }
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(asBytes(data)).digest('hex');
}

/** Where the checksum of `path` is kept. */
export function checksumPath(path: string): string {
  return `${path}.sha256`;
}

/**
 * Writes `data` atomically and then its checksum sidecar (`<hex>  <name>`, so `sha256sum -c`
 * works). The old sidecar is removed first: a kill between the two writes then leaves a file
 * without a checksum ("unverified"), never a good file next to a stale checksum ("corrupt").
 */
export async function writeFileWithChecksum(path: string, data: Uint8Array | string): Promise<string> {
  const bytes = asBytes(data);
  const hex = sha256Hex(bytes);
  await unlink(checksumPath(path)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  await writeFileAtomic(path, bytes);
  await writeFileAtomic(checksumPath(path), checksumSidecar(hex, basename(path)));
  return hex;
}

/** What a file's sidecar says about it: matches, absent, or not a sidecar at all (garbage, torn). */
export type SidecarState = 'verified' | 'missing' | 'malformed';

/**
 * Reads `path` and checks it against its sidecar. A well-formed sidecar that disagrees with the
 * bytes is proof of corruption: throws ChecksumError (naming the file and both digests). A missing
 * or malformed sidecar proves nothing either way — the bytes come back `verified: false` and the
 * caller applies the run-folder policy (docs/run-folders.md, "Sidecar policy"): confirm them another way or recompute.
 */
export async function readFileVerified(path: string): Promise<{ bytes: Uint8Array; verified: boolean; sidecar: SidecarState }> {
  const bytes = new Uint8Array(await readFile(path));
  let sidecar: string;
  try {
    sidecar = await readFile(checksumPath(path), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes, verified: false, sidecar: 'missing' };
    throw e;
  }
  const expected = parseSidecar(sidecar, basename(path));
  if (expected === null) return { bytes, verified: false, sidecar: 'malformed' };
  const actual = sha256Hex(bytes);
  if (actual !== expected) {
    throw new ChecksumError(`${path}: corrupt — SHA-256 is ${actual} but ${basename(checksumPath(path))} records ${expected}; ` +
      'delete the file (and its .sha256) to have the stage that wrote it run again');
  }
  return { bytes, verified: true, sidecar: 'verified' };
}

/** The digest a sidecar records for `name`, or null unless it is exactly `<64 hex>  <name>\n` (what we write). */
export function parseSidecar(text: string, name: string): string | null {
  const m = /^([0-9a-f]{64})  (.+)\n$/.exec(text);
  return m && m[2] === name ? m[1]! : null;
}

/**
 * Removes `.<name>.<pid>.<hex>.tmp` files (tempName's pattern) in `dir` whose writer process is
 * gone: a writer killed between creating its temp file and the rename leaves one behind. A temp
 * file of a live process (another run writing into the same folder) is left alone.
 */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try { names = await readdir(dir); } catch { return []; }
  const removed: string[] = [];
  for (const n of names) {
    const m = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(n);
    if (!m || processAlive(Number(m[1]))) continue;
    await unlink(join(dir, n)).then(() => removed.push(n), () => {});
  }
  return removed;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else — alive.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
