// A folder under the view server's root as the ResultSource that src/report/collect.ts reads:
// one /api/files request gives every file below it (text, or the name of a binary), so the page
// collects from exactly what `earlyphase report` would see on disk.
import type { ResultSource } from '../src/report/collect.ts';
import { filesSource } from '../src/report/files-source.ts';
import { fetchResultFiles } from './results-api.ts';

export interface LoadedResults { files: Record<string, string | null>; source: ResultSource }

export async function loadResults(dir: string): Promise<LoadedResults> {
  const files = await fetchResultFiles(dir);
  return { files, source: filesSource(files) };
}
