// A folder under the view server's root as the ResultSource that src/report/collect.ts reads.
// /api/files gives the text files; their folders are then listed with /api/list, because collect
// also looks at names of files that are not text (level_1's model_ep<E>_it<I>.safetensors marks the
// rewind point), and the text map alone would hide them.
import type { ResultSource } from '../src/report/collect.ts';
import { filesSource } from '../src/report/files-source.ts';
import { fetchResultFiles, listFolder } from './results-api.ts';

/** Listings in flight at once: enough to hide the round trips, few enough not to flood the server. */
const PARALLEL_LISTINGS = 8;

export interface LoadedResults { files: Record<string, string>; source: ResultSource }

export async function loadResults(dir: string): Promise<LoadedResults> {
  const files = await fetchResultFiles(dir);
  const texts = filesSource(files);
  const folders = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
  }
  const queue = [...folders];
  const listed = new Map<string, string[]>();
  await Promise.all(Array.from({ length: PARALLEL_LISTINGS }, async () => {
    for (let folder = queue.pop(); folder !== undefined; folder = queue.pop()) {
      // A folder removed since /api/files answered keeps the names its text files gave it.
      const entries = await listFolder(folder).catch(() => null);
      if (entries) listed.set(folder, entries.map((e) => e.name));
    }
  }));
  return { files, source: { read: texts.read, list: (d) => listed.get(d) ?? texts.list(d) } };
}
