// One writer per run folder: a lock file with an owner and a heartbeat, shared by every process
// that writes run folders (local sweeps, queue workers on any machine sharing the runs root).
//
//   <path>      JSON {owner, host, pid, since, heartbeat}; created with O_EXCL, so one creator wins.
//   <path>.log  one line per acquire / release / takeover / loss: who wrote the folder when.
//
// The owner rewrites the heartbeat every `heartbeatMs`. A later process takes the lock over when
// its owner is dead: at once when the owner ran on this host and its pid is gone, else when the
// heartbeat is older than `staleMs` (another machine, e.g. a lost node). Takeovers go through a
// second O_EXCL file so two successors cannot both win. An owner whose lock was taken over (it
// looked dead: a frozen machine that wakes up) learns it at its next heartbeat and `onLost` tells
// it to stop writing.
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { UserError } from '../src/errors.ts';

export interface LockInfo { owner: string; host: string; pid: number; since: string; heartbeat: number }

export interface LockOptions {
  /** Shown in messages and the log, e.g. "worker gpu3 (host:pid)". */
  label?: string;
  heartbeatMs?: number;
  /** A heartbeat older than this means the owner is dead (owners on other hosts). */
  staleMs?: number;
  /** Called once when another process took the lock over; the holder must stop writing. */
  onLost?: (by: LockInfo | null) => void;
}

export class RunLockBusyError extends Error {
  constructor(readonly path: string, readonly holder: LockInfo) {
    super(`${dirname(path)} is being written by ${holder.owner} (since ${holder.since}, heartbeat ${Math.round((Date.now() - holder.heartbeat) / 1000)} s ago)`);
  }
}

const DEFAULT_HEARTBEAT_MS = Number(process.env.EARLYPHASE_LOCK_HEARTBEAT_MS) || 5_000;
const DEFAULT_STALE_MS = Number(process.env.EARLYPHASE_LOCK_STALE_MS) || 60_000;

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  // A zombie (dead, not yet reaped by its new parent — in a container, PID 1 may take seconds)
  // still answers kill(0) but writes nothing: on Linux its /proc state says so.
  try { return !/^Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1) ?? ''); } catch { return true; }
}

async function readInfo(path: string): Promise<LockInfo | null> {
  try { return JSON.parse(await readFile(path, 'utf8')) as LockInfo; } catch { return null; }
}

/** Dead: its process is gone (same host), or its heartbeat stopped (any host). */
export function isDead(info: LockInfo, staleMs: number, now = Date.now()): boolean {
  if (info.host === hostname() && !pidAlive(info.pid)) return true;
  return now - info.heartbeat > staleMs;
}

export class RunLock {
  readonly info: LockInfo;
  private timer: NodeJS.Timeout | null = null;
  private lost = false;

  private constructor(readonly path: string, info: LockInfo, private readonly opts: LockOptions) { this.info = info; }

  /**
   * Takes the lock, taking it over from a dead owner. With `wait`, waits (checking every
   * `pollMs`) while a live owner holds it; without, throws RunLockBusyError.
   */
  static async acquire(path: string, opts: LockOptions & { wait?: boolean; pollMs?: number; onWait?: (holder: LockInfo) => void } = {}): Promise<RunLock> {
    const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
    await mkdir(dirname(path), { recursive: true });
    const info: LockInfo = { owner: `${opts.label ?? 'earlyphase'} (${hostname()}:${process.pid}:${randomUUID().slice(0, 8)})`, host: hostname(), pid: process.pid, since: new Date().toISOString(), heartbeat: Date.now() };
    let told = false;
    for (;;) {
      if (await createExclusive(path, JSON.stringify(info))) {
        const lock = new RunLock(path, info, opts);
        await lock.log('acquire');
        lock.start();
        return lock;
      }
      const holder = await readInfo(path);
      if (holder && isDead(holder, staleMs)) {
        if (await takeOver(path, holder, info, staleMs)) {
          const lock = new RunLock(path, info, opts);
          await lock.log(`takeover from ${holder.owner} (heartbeat ${Math.round((Date.now() - holder.heartbeat) / 1000)} s ago)`);
          lock.start();
          return lock;
        }
        continue;
      }
      if (holder && !opts.wait) throw new RunLockBusyError(path, holder);
      if (holder && !told) { opts.onWait?.(holder); told = true; }
      // A holder that vanished between the create and the read (just released): try again at once.
      await new Promise((r) => setTimeout(r, holder ? opts.pollMs ?? 1000 : 20));
    }
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
    const now = await readInfo(this.path);
    if (!now || now.owner !== this.info.owner) return this.lose(now);
    this.info.heartbeat = Date.now();
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(this.info));
    await rename(tmp, this.path);
  }

  private async lose(by: LockInfo | null): Promise<void> {
    this.lost = true;
    this.stop();
    await this.log(`lost to ${by?.owner ?? 'nobody (lock file removed)'}`);
    this.opts.onLost?.(by);
  }

  private stop(): void { if (this.timer) clearInterval(this.timer); this.timer = null; }

  /** Removes the lock if it is still ours. */
  async release(): Promise<void> {
    this.stop();
    if (this.lost) return;
    const now = await readInfo(this.path);
    if (now?.owner !== this.info.owner) return this.lose(now);
    await rm(this.path, { force: true });
    await this.log('release').catch(() => {}); // the folder may have been deleted meanwhile
  }

  private async log(what: string): Promise<void> {
    await appendFile(`${this.path}.log`, `${new Date().toISOString()} ${Date.now()} ${this.info.owner} ${what}\n`);
  }
}

async function createExclusive(path: string, content: string): Promise<boolean> {
  try {
    const f = await open(path, 'wx');
    try { await f.writeFile(content); await f.sync(); } finally { await f.close(); }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Replaces a dead holder's lock with ours. The `.takeover` file (O_EXCL) admits one successor at a
 * time, which re-reads the lock inside it: someone else may have taken it over in between.
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
    const again = await readInfo(path);
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
 * If the lock is taken over while we run (we looked dead), `control` stops the run.
 */
export async function lockForCommand(root: string, rel: string, control: { stop(): void }): Promise<RunLock> {
  try {
    return await RunLock.acquire(`${root}/${rel}`, {
      label: `earlyphase ${process.argv[2] ?? ''}`.trim(),
      onLost: (by) => { process.stderr.write(`earlyphase: ${by?.owner ?? 'another process'} took over ${dirname(rel)}; stopping\n`); control.stop(); },
    });
  } catch (e) {
    if (e instanceof RunLockBusyError) throw new UserError(`${e.message}; wait for it to finish or stop it (a killed owner is taken over at once on this host, after ${DEFAULT_STALE_MS / 1000} s from another)`);
    throw e;
  }
}
