// Reading the run folders under the runs root for the results browser: a folder's entries, and
// every file below a folder with the text of the small text files. Every path is resolved inside
// the root (runner/view-server/paths.ts); entries that vanish or lead outside while a run writes are skipped.
import { readdir, stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { openRegularFile } from '../storage/contained-fs.ts';
import { Refusal, resolveInside } from './paths.ts';

// /api/files hands text to the results browser; bigger files are trajectories no page parses whole.
// Other files are listed by name only (null): the report reads some names, e.g. level_1's
// model_ep<E>_it<I>.safetensors marks the rewind point.
const MAX_TEXT_FILE_BYTES = 20 * 2 ** 20;
const TEXT_EXTENSIONS = new Set(['.json', '.csv', '.txt']);

export class RunReads {
  /** `root` as given (paths resolve in it), `realRoot` its real path (files open inside it). */
  constructor(private readonly root: string, private readonly realRoot: string) {}

  /** The entries of the folder `segments`, sorted by name: hidden ones and ones leading outside left out. */
  async list(segments: string[]): Promise<{ name: string; dir: boolean }[]> {
    const dir = await this.folder(segments);
    const rows: { name: string; dir: boolean }[] = [];
    for (const name of await readdir(dir)) {
      if (name.startsWith('.')) continue;
      const real = await this.entry([...segments, name]);
      const st = real && await stat(real).catch(() => null);
      if (st) rows.push({ name, dir: st.isDirectory() });
    }
    return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Every file below `segments` keyed by its path relative to the root: the text of .json/.csv/.txt files, null for the rest. */
  async files(segments: string[]): Promise<Record<string, string | null>> {
    const out: Record<string, string | null> = {};
    const seen = new Set<string>(); // real folders already walked: a symlink to an ancestor must not loop
    const walk = async (segs: string[]): Promise<void> => {
      const dir = await resolveInside(this.root, segs);
      if (seen.has(dir)) return;
      seen.add(dir);
      for (const name of (await readdir(dir)).sort()) {
        if (name.startsWith('.')) continue;
        const real = await this.entry([...segs, name]);
        // Files may vanish between readdir and stat while a run is writing; skip them.
        const st = real && await stat(real).catch(() => null);
        if (!st) continue;
        if (st.isDirectory()) await walk([...segs, name]);
        else if (st.isFile()) {
          const text = TEXT_EXTENSIONS.has(extname(name)) && st.size <= MAX_TEXT_FILE_BYTES ? await this.readText(real!, name) : null;
          out[[...segs, name].join('/')] = text;
        }
      }
    };
    await this.folder(segments);
    await walk(segments);
    return out;
  }

  /** The real path of the folder `segments`, or a 404 when it is not one. */
  private async folder(segments: string[]): Promise<string> {
    const dir = await resolveInside(this.root, segments);
    if (!(await stat(dir)).isDirectory()) throw new Refusal(404, `${segments.join('/')} is not a folder`);
    return dir;
  }

  /** A folder entry's real path, or null when it is refused (it leads outside, it vanished). */
  private entry(segments: string[]): Promise<string | null> {
    return resolveInside(this.root, segments).catch((e) => { if (e instanceof Refusal) return null; throw e; });
  }

  /** A text file's contents, or null when it is not a regular file inside the root (or vanished). */
  private async readText(real: string, name: string): Promise<string | null> {
    const opened = await openRegularFile(real, this.realRoot, name).catch(() => null);
    if (!opened) return null;
    try { return await opened.fh.readFile('utf8'); } catch { return null; } finally { await opened.fh.close(); }
  }
}
