// What the driver needs from the place run folders live: Node's file system (runner/fs-storage.ts)
// or the browser (viewer). Paths are '/'-separated and relative to the storage root.
import { UserError } from '../errors.ts';

export interface RunStorage {
  /**
   * The file's bytes, or null when it does not exist. Throws CorruptFileError when the file is
   * there but fails its integrity check (checksum or length): callers recompute, never use it.
   */
  read(path: string): Promise<Uint8Array | null>;
  /** Writes atomically: a reader sees the old file or the whole new one, never a partial one. */
  write(path: string, data: Uint8Array | string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Removes a file if present (a corrupt one that will be recomputed). */
  remove(path: string): Promise<void>;
}

export class CorruptFileError extends UserError {
  override name = 'CorruptFileError';
  constructor(readonly path: string, why: string) {
    super(`${path} is corrupt (${why})`);
  }
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
