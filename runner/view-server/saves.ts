// Saves of new runs from the run-in-tab page (PUT /runs/<run folder>/<file>). Saves may only
// create run folders: a PUT into a folder that existed before this server created it (or that was
// replaced since) is refused, so a page can never overwrite a CLI run; its sub-folders are made
// one level at a time, each checked inside before the next. Upload bodies are streamed to a
// temporary file beside their final name, at most MAX_UPLOADS at a time, so the memory they take
// is bounded (see MAX_UPLOADS) whatever their sizes and number. One save per path at a time: a
// second PUT to a path whose save is in flight is refused (409), so no client is told its save
// succeeded while another body replaced it.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { lstatSync, mkdirSync } from 'node:fs';
import { rename, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { checksumSidecar } from '../../src/io/digest.ts';
import { checksumPath, writeFileAtomic } from '../storage/atomic-write.ts';
import { mkdirInside } from '../storage/contained-fs.ts';
import { Refusal } from './paths.ts';
import { MAX_PUT_BYTES, receiveToFile } from './upload-body.ts';

// Saves in progress at once; more get 503 (the page saves a run's files a few at a time). Each
// holds one socket chunk (≤ 64 KiB) while it is written to disk and the socket is paused, so
// upload bodies take at most ~MAX_UPLOADS × 128 KiB (1 MiB) of memory together: four 400 MiB
// uploads took 3.3 GB when bodies were buffered whole.
export const MAX_UPLOADS = 8;
const SAVE_HEADER = 'x-earlyphase-save';

export interface Saved { path: string; bytes: number }

export class RunSaves {
  /** Saves in progress. */
  uploads = 0;
  // Run folders this server created, by identity (device, inode): the only ones a PUT may write
  // into. A symlink put in a created folder's place never matches (lstat sees the link).
  private readonly created = new Map<string, { dev: number; ino: number }>();
  /** Paths (relative to the root) whose save is in flight. */
  private readonly saving = new Set<string>();

  /** `realRoot`: the runs root's real path; `write`: whether pages may save (false with --read-only). */
  constructor(private readonly realRoot: string, readonly write: boolean) {}

  /** Saves the request body as `segments` (a file inside a run folder), or refuses it. */
  async save(req: IncomingMessage, segments: string[]): Promise<Saved> {
    if (!this.write) throw new Refusal(403, 'this server is read-only (started with --read-only)');
    if (req.headers[SAVE_HEADER] !== '1') throw new Refusal(403, `a save must carry the header ${SAVE_HEADER}: 1`);
    if (segments.length < 2) throw new Refusal(403, 'a save names a file inside a run folder: PUT /runs/<run folder>/<file>');
    if (segments.at(-1)!.endsWith('.sha256')) throw new Refusal(403, 'checksum sidecars are written by the server, not uploaded');
    if (Number(req.headers['content-length']) > MAX_PUT_BYTES) throw new Refusal(413, `a saved file may be at most ${MAX_PUT_BYTES / 2 ** 20} MiB`);
    // Counted before the first await, so MAX_UPLOADS holds however many requests arrive together.
    if (this.uploads >= MAX_UPLOADS) throw new Refusal(503, `${MAX_UPLOADS} saves are already in progress; retry when one has finished`);
    // Also before the first await: of simultaneous saves to one path exactly one goes ahead.
    const path = segments.join('/');
    if (this.saving.has(path)) throw new Refusal(409, `${path} is being saved by another request; this save was refused (retry when that one has finished)`);
    this.saving.add(path);
    this.uploads++;
    try { return await this.saveInRunFolder(req, segments); } finally { this.uploads--; this.saving.delete(path); }
  }

  private async saveInRunFolder(req: IncomingMessage, segments: string[]): Promise<Saved> {
    const [folder, ...inner] = segments as [string, ...string[]];
    const folderPath = join(this.realRoot, folder);
    const path = segments.join('/');
    const claimedNow = this.claim(folder, folderPath);
    try {
      return { path, bytes: await writeFile(req, folderPath, inner, path) };
    } catch (e) {
      // A refused first save leaves no empty run folder behind.
      if (claimedNow && await rmdir(folderPath).then(() => true, () => false)) this.created.delete(folder);
      throw e;
    }
  }

  /**
   * Checks that run folder `folder` is one this server created (and still the same folder), or
   * creates it now; true when it was created now. Synchronous from the lookup to created.set:
   * parallel first saves into one new folder must see one claim, not race each other's mkdir.
   */
  private claim(folder: string, folderPath: string): boolean {
    const claim = this.created.get(folder);
    if (claim) {
      const st = lstatSync(folderPath, { throwIfNoEntry: false });
      if (!st || st.isSymbolicLink() || !st.isDirectory() || st.dev !== claim.dev || st.ino !== claim.ino) {
        throw new Refusal(403, `run folder ${folder} was replaced since this server created it; pages only write into folders they created`);
      }
      return false;
    }
    // mkdir without `recursive` fails when the name exists (a CLI run, a symlink, a file): the claim is atomic.
    try { mkdirSync(folderPath); } catch {
      throw new Refusal(403, `run folder ${folder} already exists and was not created by this server; pages only create new run folders`);
    }
    const st = lstatSync(folderPath);
    this.created.set(folder, { dev: st.dev, ino: st.ino });
    return true;
  }
}

/**
 * Writes the body to `inner` (sub-folders, then the file name) inside the run folder `folderPath`
 * through a temporary file renamed into place, then its checksum sidecar; returns its size.
 * `path` is what errors call it.
 */
async function writeFile(req: IncomingMessage, folderPath: string, inner: string[], path: string): Promise<number> {
  const file = inner.at(-1)!, subdirs = inner.slice(0, -1);
  let tmp: string | undefined;
  try {
    const dir = await mkdirInside(folderPath, subdirs, folderPath);
    tmp = join(dir, `.${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const body = await receiveToFile(req, tmp, folderPath, path);
    // Checked again just before the rename; the old sidecar goes first (as in writeFileWithChecksum):
    // a crash in between leaves a file without a checksum, never one with a stale checksum.
    await mkdirInside(folderPath, subdirs, folderPath);
    const final = join(dir, file);
    await unlink(checksumPath(final)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
    await rename(tmp, final);
    tmp = undefined;
    await writeFileAtomic(checksumPath(final), checksumSidecar(body.sha256, file));
    return body.bytes;
  } catch (e) {
    if (tmp) await unlink(tmp).catch(() => {});
    throw e;
  }
}
