// One writer per run folder: a lock file with an owner and a heartbeat, shared by every process
// that writes run folders (local sweeps, queue workers on any machine sharing the runs root).
//
//   <path>      JSON {owner, host, pid, since, heartbeat}; it appears whole or not at all (written
//               to a temporary file, then hard-linked to <path>, which fails when <path> exists,
//               so one creator wins and a kill never leaves an empty lock behind).
//   <path>.log  one line per acquire / release / takeover / loss: who wrote the folder when.
//
// The owner rewrites the heartbeat every `heartbeatMs`. A later process takes the lock over when
// its owner is dead: at once when the owner ran on this host and its pid is gone, else when the
// heartbeat is older than `staleMs` (another machine, e.g. a lost node). A lock file that cannot be
// read (empty or not JSON: killed mid-write by an older version, written by another tool) is judged
// by its age the same way, its modification time standing in for the heartbeat. Takeovers go
// through a second exclusive file so two successors cannot both win. An owner whose lock was taken
// over (it looked dead: a paused process, a frozen machine that wakes up) learns it at its next
// heartbeat or, at the latest, at its next write into the folder (`checkWrite`, called by
// FsStorage before every write): that write is refused, so it writes nothing more there, and
// `onLost` tells it to stop.
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFile, link, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { RunStoppedError } from '../../src/train/control.ts';
import { isInside } from './contained-fs.ts';

export interface LockInfo {
  owner: string; host: string; pid: number; since: string; heartbeat: number;
  /** Set when the file could not be read as a lock (why); `heartbeat` is then its modification time. */
  unreadable?: string;
}

export interface LockOptions {
  /** Shown in messages and the log, e.g. "worker gpu3 (host:pid)". */
  label?: string;
  heartbeatMs?: number;
  /** A heartbeat older than this means the owner is dead (owners on other hosts). */
  staleMs?: number;
  /** Called once when another process took the lock over; the holder must stop writing. */
  onLost?: (by: LockInfo | null) => void;
}

export interface AcquireOptions extends LockOptions {
  /** Wait while a live owner holds the lock (checking every `pollMs`) instead of throwing RunLockBusyError. */
  wait?: boolean;
  pollMs?: number;
  /** While waiting: after `noticeMs` (3 s), then every minute, a line naming the lock file, its holder and when it counts as dead. */
  onWait?: (holder: LockInfo, message: string) => void;
  noticeMs?: number;
}

const secondsAgo = (t: number) => Math.max(0, Math.round((Date.now() - t) / 1000));

export class RunLockBusyError extends Error {
  constructor(readonly path: string, readonly holder: LockInfo, staleMs: number) {
    super(holder.unreadable
      ? `${path} is not a readable lock (${holder.unreadable}, last changed ${secondsAgo(holder.heartbeat)} s ago): a process was killed while creating it, or another tool wrote it; ` +
        `it counts as abandoned once it is ${Math.round(staleMs / 1000)} s old, or delete it if nothing is writing ${dirname(path)}`
      : `${dirname(path)} is being written by ${holder.owner} (since ${holder.since}, heartbeat ${secondsAgo(holder.heartbeat)} s ago)`);
  }
}

/** A write into a folder whose lock this process held and lost: it must not happen. */
export class RunLockLostError extends RunStoppedError {
  override name = 'RunLockLostError';
  constructor(folder: string, by: LockInfo | null) {
    super(`${folder} was taken over by ${by?.owner ?? 'nobody (its lock file was removed)'} while this process looked dead (paused, or cut off); ` +
      'it wrote nothing more there. The new owner continues the run; to check on it, run the same command again');
  }
}

const DEFAULT_HEARTBEAT_MS = Number(process.env.EARLYPHASE_LOCK_HEARTBEAT_MS) || 5_000;
const DEFAULT_STALE_MS = Number(process.env.EARLYPHASE_LOCK_STALE_MS) || 60_000;
const DEFAULT_NOTICE_MS = 3_000;
const REPEAT_NOTICE_MS = 60_000;

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  // A zombie (dead, not yet reaped by its new parent — in a container, PID 1 may take seconds)
  // still answers kill(0) but writes nothing: on Linux its /proc state says so.
  try { return !/^Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1) ?? ''); } catch { return true; }
}

function isLockInfo(v: unknown): v is LockInfo {
  const o = v as LockInfo;
  return typeof o === 'object' && o !== null && typeof o.owner === 'string' && o.owner !== '' && typeof o.host === 'string' &&
    Number.isSafeInteger(o.pid) && o.pid > 0 && typeof o.since === 'string' && Number.isFinite(o.heartbeat);
}

/**
 * The lock's holder, or null when there is no lock file. A file that is not a lock stands for an
 * unknown owner whose heartbeat is the file's modification time: judged by its age like any other.
 */
async function readHolder(path: string): Promise<LockInfo | null> {
  let text: string | null = null, code = '';
  try { text = await readFile(path, 'utf8'); } catch (e) { code = (e as NodeJS.ErrnoException).code ?? 'EIO'; if (code === 'ENOENT') return null; }
  let parsed: unknown = undefined;
  try { parsed = JSON.parse(text ?? ''); } catch { /* judged below */ }
  if (isLockInfo(parsed)) return parsed;
  const s = await stat(path).catch(() => null);
  if (!s) return null; // removed meanwhile
  const why = text === null ? `unreadable: ${code}` : text.trim() === '' ? 'empty' : parsed === undefined ? 'not JSON' : 'JSON without an owner, host, pid and heartbeat';
  // Stable while the file is unchanged: a takeover compares owners before and inside its gate.
  return { owner: `an unknown owner (${basename(path)} is ${why})`, host: '', pid: 0, since: new Date(s.mtimeMs).toISOString(), heartbeat: s.mtimeMs, unreadable: why };
}

/** Dead: its process is gone (same host), or its heartbeat stopped (any host). */
export function isDead(info: LockInfo, staleMs: number, now = Date.now()): boolean {
  if (info.host === hostname() && !pidAlive(info.pid)) return true;
  return now - info.heartbeat > staleMs;
}

function waitMessage(path: string, h: LockInfo, staleMs: number): string {
  const stale = `${Math.round(staleMs / 1000)} s`;
  return h.unreadable
    ? `waiting for ${path}: it is not a readable lock (${h.unreadable}, last changed ${secondsAgo(h.heartbeat)} s ago); it is taken over once it is ${stale} old`
    : `waiting for ${path}: ${h.owner} is writing ${dirname(path)} (heartbeat ${secondsAgo(h.heartbeat)} s ago); it is taken over if that process dies or its heartbeat stops for ${stale}`;
}

/** Locks this process holds, so that a write into a folder whose lock was lost can be refused. */
const held = new Set<RunLock>();

export class RunLock {
  readonly info: LockInfo;
  /** The folder the lock guards (the lock file's own). */
  readonly folder: string;
  private timer: NodeJS.Timeout | null = null;
  private lost = false;
  private lostTo: LockInfo | null = null;

  private constructor(readonly path: string, info: LockInfo, private readonly opts: LockOptions) {
    this.info = info;
    this.folder = resolve(dirname(path));
  }

  /**
   * Takes the lock, taking it over from a dead owner. With `wait`, waits (checking every
   * `pollMs`) while a live owner holds it, saying so through `onWait`; without, throws RunLockBusyError.
   */
  static async acquire(path: string, opts: AcquireOptions = {}): Promise<RunLock> {
    const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
    await mkdir(dirname(path), { recursive: true });
    const info: LockInfo = { owner: `${opts.label ?? 'earlyphase'} (${hostname()}:${process.pid}:${randomUUID().slice(0, 8)})`, host: hostname(), pid: process.pid, since: new Date().toISOString(), heartbeat: Date.now() };
    const t0 = Date.now();
    let nextNotice = t0 + (opts.noticeMs ?? DEFAULT_NOTICE_MS);
    for (;;) {
      if (await createExclusive(path, JSON.stringify(info))) return RunLock.held(path, info, opts, 'acquire');
      const holder = await readHolder(path);
      if (holder && isDead(holder, staleMs)) {
        if (await takeOver(path, holder, info, staleMs)) {
          return RunLock.held(path, info, opts, `takeover from ${holder.owner} (heartbeat ${secondsAgo(holder.heartbeat)} s ago)`);
        }
        continue;
      }
      if (holder && !opts.wait) throw new RunLockBusyError(path, holder, staleMs);
      if (holder && Date.now() >= nextNotice) {
        opts.onWait?.(holder, waitMessage(path, holder, staleMs));
        nextNotice = Date.now() + REPEAT_NOTICE_MS;
      }
      // A holder that vanished between the create and the read (just released): try again at once.
      await new Promise((r) => setTimeout(r, holder ? opts.pollMs ?? 1000 : 20));
    }
  }

  private static async held(path: string, info: LockInfo, opts: LockOptions, what: string): Promise<RunLock> {
    const lock = new RunLock(path, info, opts);
    held.add(lock);
    await lock.log(what);
    lock.start();
    return lock;
  }

  get isLost(): boolean { return this.lost; }

  private start(): void {
    const every = this.opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    // A heartbeat that cannot be written (NFS hiccup) is tried again at the next one; if it stays
    // unwritten the lock goes stale and a successor takes over, which the next beat reports.
    this.timer = setInterval(() => { this.beat().catch(() => {}); }, every);
    this.timer.unref();
  }

  /** Renews the heartbeat if the lock is still ours; otherwise reports the loss once. */
  async beat(): Promise<void> {
    if (this.lost) return;
    const now = await readHolder(this.path);
    if (now?.owner !== this.info.owner) return this.lose(now);
    this.info.heartbeat = Date.now();
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.info));
    await rename(tmp, this.path);
  }

  /**
   * Throws RunLockLostError unless the lock file still names us. Called before each write into
   * the folder: a holder paused past the stale time may wake up and write before its next
   * heartbeat; this read is what stops it.
   */
  async confirm(): Promise<void> {
    if (!this.lost) {
      const now = await readHolder(this.path);
      if (now?.owner === this.info.owner) return;
      await this.lose(now);
    }
    throw new RunLockLostError(this.folder, this.lostTo);
  }

  private async lose(by: LockInfo | null): Promise<void> {
    if (this.lost) return;
    this.lost = true;
    this.lostTo = by;
    this.stop();
    await this.log(`lost to ${by?.owner ?? 'nobody (lock file removed)'}`).catch(() => {});
    this.opts.onLost?.(by);
  }

  private stop(): void { if (this.timer) clearInterval(this.timer); this.timer = null; }

  /** Removes the lock if it is still ours. */
  async release(): Promise<void> {
    this.stop();
    held.delete(this);
    if (this.lost) return;
    const now = await readHolder(this.path);
    if (now?.owner !== this.info.owner) return this.lose(now);
    await rm(this.path, { force: true });
    await this.log('release').catch(() => {}); // the folder may have been deleted meanwhile
  }

  private async log(what: string): Promise<void> {
    await appendFile(`${this.path}.log`, `${new Date().toISOString()} ${Date.now()} ${this.info.owner} ${what}\n`);
  }
}

/**
 * Refuses (RunLockLostError) a write to `path` when it lies in the folder of a lock this process
 * holds but has lost; a no-op for paths no held lock guards (and in processes that hold none).
 */
export async function checkWrite(path: string): Promise<void> {
  const p = resolve(path);
  for (const lock of held) if (isInside(p, lock.folder)) await lock.confirm();
}

// File systems without hard links (some FUSE and SMB mounts) fall back to an exclusive create.
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Creates `path` holding `content` unless it exists; false when it does. The file appears whole or not at all. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  // Same folder and dot-prefixed like every temporary file of a run folder; pid + random: unique.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeSynced(tmp, content);
    await link(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (NO_LINKS.has(code)) return createExclusiveOpen(path, content);
    throw e;
  } finally {
    await rm(tmp, { force: true });
  }
}

async function writeSynced(path: string, content: string): Promise<void> {
  const f = await open(path, 'wx');
  try { await f.writeFile(content); await f.sync(); } finally { await f.close(); }
}

async function createExclusiveOpen(path: string, content: string): Promise<boolean> {
  try {
    await writeSynced(path, content);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Replaces a dead holder's lock with ours. The `.takeover` file (exclusive) admits one successor
 * at a time, which re-reads the lock inside it: someone else may have taken it over in between.
 */
async function takeOver(path: string, dead: LockInfo, ours: LockInfo, staleMs: number): Promise<boolean> {
  const gate = `${path}.takeover`;
  if (!(await createExclusive(gate, ours.owner))) {
    // A successor that died inside the gate leaves it behind: clear it once it is old.
    const s = await stat(gate).catch(() => null);
    if (s && Date.now() - s.mtimeMs > staleMs) await rm(gate, { force: true });
    else await new Promise((r) => setTimeout(r, 200));
    return false;
  }
  try {
    const again = await readHolder(path);
    if (again && (again.owner !== dead.owner || !isDead(again, staleMs))) return false;
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...ours, heartbeat: Date.now() }));
    await rename(tmp, path);
    return true;
  } finally {
    await rm(gate, { force: true });
  }
}

/**
 * The lock of a command run by hand (train, lottery, branch, instability): a live process writing
 * the same folder is one line naming it (exit 2), not a second writer; a dead one is taken over.
 * If the lock is taken over while we run (we looked dead), `control` stops the run, and FsStorage
 * refuses its further writes there (checkWrite).
 */
export async function lockForCommand(root: string, rel: string, control: { stop(): void }): Promise<RunLock> {
  try {
    return await RunLock.acquire(`${root}/${rel}`, {
      label: `earlyphase ${process.argv[2] ?? ''}`.trim(),
      onLost: (by) => { process.stderr.write(`earlyphase: ${by?.owner ?? 'another process'} took over ${dirname(rel)}; stopping\n`); control.stop(); },
    });
  } catch (e) {
    if (e instanceof RunLockBusyError && e.holder.unreadable) throw new UserError(e.message);
    if (e instanceof RunLockBusyError) throw new UserError(`${e.message}; wait for it to finish or stop it (a killed owner is taken over at once on this host, after ${DEFAULT_STALE_MS / 1000} s from another)`);
    throw e;
  }
}
