// What the driver needs from the place run folders live: Node's file system (runner/storage/fs-storage.ts)
// or the browser (viewer). Paths are '/'-separated and relative to the storage root.
import { UserError } from '../errors.ts';

export interface RunStorage {
  /**
   * The file's bytes, or null when it does not exist. Throws CorruptFileError when the file is
   * there but fails its integrity check (checksum or length): callers recompute, never use it.
   * Throws UnverifiedFileError when nothing vouches for it (its checksum sidecar is missing or
   * malformed): callers confirm the bytes another way (UnverifiedFileError.bytes) or recompute.
   */
  read(path: string): Promise<Uint8Array | null>;
  /** Writes atomically: a reader sees the old file or the whole new one, never a partial one. */
  write(path: string, data: Uint8Array | string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Removes a file if present (a corrupt one that will be recomputed). */
  remove(path: string): Promise<void>;
  /** Removes temp files that killed writers left in `dir`; returns their names. Optional: storages whose writes leave none. */
  removeStaleTemps?(dir: string): Promise<string[]>;
}

export class CorruptFileError extends UserError {
  override name = 'CorruptFileError';
  constructor(readonly path: string, why: string) {
    super(`${path} is corrupt (${why})`);
  }
}

/**
 * A file of the run folder without a valid checksum sidecar (a kill between the file's rename and
 * its sidecar's, a deleted or garbled sidecar). Not proof of corruption, but not trusted either.
 */
export class UnverifiedFileError extends CorruptFileError {
  override name = 'UnverifiedFileError';
  constructor(path: string, readonly bytes: Uint8Array, sidecar: 'missing' | 'malformed') {
    super(path, '');
    this.message = `${path} is unverified (its .sha256 checksum file is ${sidecar})`;
  }
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
