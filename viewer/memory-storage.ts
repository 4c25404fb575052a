// RunStorage kept in the page's memory: the run-in-tab page hands it to the same driver the CLI
// uses, so the driver's skip/resume logic works unchanged (a stopped run restarted in the same
// tab continues from its last checkpoint). Writes are whole-value swaps, so they are atomic.
import type { RunStorage } from '../src/train/storage.ts';
import type { ResultSource } from '../src/report/collect.ts';

export class MemoryStorage implements RunStorage {
  readonly files = new Map<string, Uint8Array<ArrayBuffer>>();

  async read(path: string): Promise<Uint8Array | null> {
    return this.files.get(path) ?? null;
  }

  async write(path: string, data: Uint8Array | string): Promise<void> {
    // A copy: the caller may reuse its buffer after the write returns.
    this.files.set(path, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(path);
  }

  async remove(path: string): Promise<void> {
    this.files.delete(path);
  }

  /** Paths under `prefix` (a folder, no trailing slash), sorted. */
  list(prefix: string): string[] {
    return [...this.files.keys()].filter((p) => p.startsWith(`${prefix}/`)).sort();
  }

  text(path: string): string | null {
    const b = this.files.get(path);
    return b ? new TextDecoder().decode(b) : null;
  }
}

/** The storage seen as a results folder (src/report/collect.ts), to build the report's figures live. */
export function resultSource(storage: MemoryStorage): ResultSource {
  return {
    list: (dir) => {
      const names = new Set<string>();
      const prefix = dir === '' ? '' : `${dir}/`;
      for (const p of storage.files.keys()) if (p.startsWith(prefix)) names.add(p.slice(prefix.length).split('/')[0]!);
      return [...names].sort();
    },
    read: (path) => storage.text(path),
  };
}
