// File operations confined to one folder, for a server that opens paths named by a browser in a
// folder other processes can change at the same time. Three rules:
//  - Only regular files are opened, and opening never blocks: lstat first, then open with
//    O_NOFOLLOW | O_NONBLOCK (a FIFO swapped in between returns at once instead of holding a
//    thread-pool thread until a writer appears — four of those wedged every later file read),
//    then fstat must show the same regular file the lstat saw.
//  - A checked path is re-checked on the open descriptor: on Linux /proc/self/fd/<n> names the
//    file actually opened, so a folder swapped for a symlink between check and open is caught.
//    (Elsewhere the descriptor check is skipped; the lstat/fstat identity check remains.)
//  - Folders are created one level at a time, each parent verified inside the folder (a real
//    folder, not a symlink) before its child is made: nothing is ever created outside, not even
//    by a request that is refused afterwards.
import { constants } from 'node:fs';
import { lstat, mkdir, open, readlink, realpath, unlink, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** A path the rules refuse; the server answers it with `status`. */
export class ContainmentError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;
const HAS_PROC_FD = process.platform === 'linux';

export function isInside(real: string, folder: string): boolean {
  return real === folder || real.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

/** Where an open descriptor really is (Linux), or null where the platform cannot say. */
async function fdPath(fh: FileHandle): Promise<string | null> {
  if (!HAS_PROC_FD) return null;
  try { return await readlink(`/proc/self/fd/${fh.fd}`); } catch { return null; }
}

/**
 * Opens `path` (a real path already checked inside `realFolder`) for reading, only if it is a
 * regular file that is still inside once open. `name` is what error messages call it.
 */
export async function openRegularFile(path: string, realFolder: string, name: string): Promise<{ fh: FileHandle; size: number }> {
  const before = await lstat(path).catch(() => null);
  if (!before) throw new ContainmentError(404, `not found: ${name}`);
  if (!before.isFile()) throw new ContainmentError(404, `${name} is not a regular file`);
  let fh: FileHandle;
  try {
    fh = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') throw new ContainmentError(404, `not found: ${name}`);
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.ino !== before.ino || st.dev !== before.dev) throw new ContainmentError(404, `${name} changed while being opened`);
    const where = await fdPath(fh);
    if (where !== null && !isInside(where, realFolder)) throw new ContainmentError(403, `${name} leads outside the served folder`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** A real folder (not a symlink) at `path`, or a 403 naming it. */
async function expectFolder(path: string, realFolder: string, name: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (!st || !st.isDirectory() || st.isSymbolicLink()) throw new ContainmentError(403, `${name} is not a folder inside the served folder`);
  const real = await realpath(path);
  if (!isInside(real, realFolder)) throw new ContainmentError(403, `${name} leads outside the served folder`);
}

/**
 * Makes `segments` below `base` (itself checked inside `realFolder`) one level at a time; each
 * level must be a real folder inside before the next is created under it. Returns the last path.
 */
export async function mkdirInside(base: string, segments: string[], realFolder: string): Promise<string> {
  let at = base;
  await expectFolder(at, realFolder, segments.length ? 'the run folder' : at);
  for (let i = 0; i < segments.length; i++) {
    at = join(at, segments[i]!);
    await mkdir(at).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
    await expectFolder(at, realFolder, segments.slice(0, i + 1).join('/'));
  }
  return at;
}

/**
 * Creates a new file at `path` (never following a symlink, never reusing a name) and checks on
 * the descriptor that it landed inside `realFolder`; a file that did not is removed again.
 */
export async function createFileInside(path: string, realFolder: string, name: string): Promise<FileHandle> {
  const fh = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  const where = await fdPath(fh);
  if (where !== null && !isInside(where, realFolder)) {
    await fh.close();
    await unlink(where).catch(() => {});
    throw new ContainmentError(403, `${name} leads outside the served folder`);
  }
  return fh;
}
