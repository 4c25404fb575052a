// Atomic file writes and checksums for run folders. A stage's output is written to a temporary
// file in the same folder, fsynced, then renamed over the final name: rename within one file
// system is atomic, so a process killed at any moment leaves either the old file or the complete
// new one under the final name — never a partial file that a resumed run would trust.
// Checksums (SHA-256 in a `sha256sum`-compatible sidecar) catch what atomicity cannot: disk
// corruption, truncation by copying tools, or files edited by hand.
import { UserError } from '../src/errors.ts';
import { checksumSidecar } from '../src/train/hash.ts';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, readFile, rename, unlink } from 'node:fs/promises';
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

/**
 * Reads `path` and checks it against its sidecar. Returns the bytes and whether a checksum was
 * there to check; throws ChecksumError (naming the file and both digests) on a mismatch.
 */
export async function readFileVerified(path: string): Promise<{ bytes: Uint8Array; verified: boolean }> {
  const bytes = new Uint8Array(await readFile(path));
  let sidecar: string;
  try {
    sidecar = await readFile(checksumPath(path), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { bytes, verified: false };
    throw e;
  }
  const m = /^([0-9a-f]{64})\b/i.exec(sidecar);
  if (!m) throw new ChecksumError(`${checksumPath(path)}: not a SHA-256 checksum file (expected "<64 hex digits>  ${basename(path)}")`);
  const actual = sha256Hex(bytes);
  if (actual !== m[1]!.toLowerCase()) {
    throw new ChecksumError(`${path}: corrupt — SHA-256 is ${actual} but ${basename(checksumPath(path))} records ${m[1]}; ` +
      'delete the file (and its .sha256) to have the stage that wrote it run again');
  }
  return { bytes, verified: true };
}
