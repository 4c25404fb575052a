// RunStorage on the local file system: atomic writes with a SHA-256 sidecar per file, and reads
// that verify it, so a corrupt or half-written file is reported and recomputed, never used. A file
// whose sidecar is missing or malformed is "unverified" (UnverifiedFileError), never silently trusted.
// Every change is first checked against the run-folder locks this process holds (checkWrite): a
// process whose lock was taken over while it was paused writes nothing more into that folder.
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ChecksumError, checksumPath, readFileVerified, removeStaleTemps, writeFileWithChecksum } from './atomic-write.ts';
import { CorruptFileError, UnverifiedFileError, type RunStorage } from '../../src/train/storage.ts';
import { checkWrite } from './run-lock.ts';

export class FsStorage implements RunStorage {
  readonly root: string;
  constructor(root: string) { this.root = resolve(root); }

  private full(p: string): string {
    if (p.split('/').includes('..') || p.startsWith('/')) throw new Error(`run path ${p} escapes the runs root`);
    return join(this.root, p);
  }

  async read(p: string): Promise<Uint8Array | null> {
    try {
      const r = await readFileVerified(this.full(p));
      if (r.sidecar !== 'verified') throw new UnverifiedFileError(this.full(p), r.bytes, r.sidecar);
      return r.bytes;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      if (e instanceof ChecksumError) throw new CorruptFileError(this.full(p), e.message);
      throw e;
    }
  }

  async write(p: string, data: Uint8Array | string): Promise<void> {
    await checkWrite(this.full(p));
    await mkdir(dirname(this.full(p)), { recursive: true });
    await writeFileWithChecksum(this.full(p), data);
  }

  async exists(p: string): Promise<boolean> {
    return stat(this.full(p)).then(() => true, () => false);
  }

  async remove(p: string): Promise<void> {
    await checkWrite(this.full(p));
    await rm(this.full(p), { force: true });
    await rm(checksumPath(this.full(p)), { force: true });
  }

  async removeStaleTemps(dir: string): Promise<string[]> {
    await checkWrite(this.full(dir));
    return removeStaleTemps(this.full(dir));
  }
}
