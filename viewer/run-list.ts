// Which folders under the server's root the results page offers: run folders (lottery_*, train_*)
// at the top level, and folders holding them (a sweep's root) with their runs beneath. Deeper
// trees are reached with a deep link (results.html?dir=<path>).
import type { ListEntry } from './results-api.ts';

export type RunKind = 'lottery' | 'train' | 'folder';
export interface RunEntry { path: string; name: string; kind: RunKind; depth: 0 | 1 }

const runKind = (name: string): RunKind | null => (/^lottery_/.test(name) ? 'lottery' : /^train_/.test(name) ? 'train' : null);

export async function findRuns(list: (dir: string) => Promise<ListEntry[]>): Promise<RunEntry[]> {
  const top = (await list('')).filter((e) => e.dir);
  const groups = await Promise.all(top.map(async ({ name }): Promise<RunEntry[]> => {
    const kind = runKind(name);
    if (kind) return [{ path: name, name, kind, depth: 0 }];
    // A folder the server will not list (e.g. a link leading outside the root) is simply not offered.
    const inner = await list(name).catch(() => []);
    const runs = inner.flatMap((e) => {
      const k = e.dir ? runKind(e.name) : null;
      return k ? [{ path: `${name}/${e.name}`, name: e.name, kind: k, depth: 1 as const }] : [];
    });
    return runs.length ? [{ path: name, name, kind: 'folder', depth: 0 }, ...runs] : [];
  }));
  return groups.flat();
}
