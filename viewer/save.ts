// Saving a run from the tab in the run-folder format the CLI writes: either PUT to the view
// server (which writes atomically and adds the .sha256 sidecars itself) or a downloaded ustar
// archive that carries the same sidecars, so the unpacked folder is byte-for-byte what
// FsStorage would have written and `earlyphase lottery --root …` skips its finished stages.
import { checksumSidecar, sha256Hex } from '../src/io/digest.ts';
import type { MemoryStorage } from './memory-storage.ts';
import { tarArchive, type TarEntry } from './tar.ts';

export function runArchive(storage: MemoryStorage, folder: string): Uint8Array<ArrayBuffer> {
  const entries: TarEntry[] = [];
  for (const p of storage.list(folder)) {
    const data = storage.files.get(p)!;
    entries.push({ path: p, data }, { path: `${p}.sha256`, data: new TextEncoder().encode(checksumSidecar(sha256Hex(data), p.slice(p.lastIndexOf('/') + 1))) });
  }
  return tarArchive(entries);
}

export function downloadArchive(storage: MemoryStorage, folder: string): void {
  const blob = new Blob([runArchive(storage, folder)], { type: 'application/x-tar' });
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${folder.replace(/\//g, '_')}.tar`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}

/** PUTs every file of the folder; returns how many were written. The server's refusal is thrown as its message. */
export async function saveToServer(storage: MemoryStorage, folder: string): Promise<number> {
  const paths = storage.list(folder);
  for (const p of paths) {
    const r = await fetch(`/runs/${p.split('/').map(encodeURIComponent).join('/')}`, {
      method: 'PUT', body: storage.files.get(p)!, headers: { 'x-earlyphase-save': '1' },
    });
    if (!r.ok) {
      const body = await r.text();
      let message = body;
      try { message = (JSON.parse(body) as { error?: string }).error ?? body; } catch { /* plain text */ }
      throw new Error(`saving ${p} failed (HTTP ${r.status}): ${message}`);
    }
  }
  return paths.length;
}
