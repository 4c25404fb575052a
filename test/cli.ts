// The one way tests run a process — the earlyphase CLI (runner/earlyphase.mjs), a redis-server, a
// worker, Python: in a process group of its own (so the CLI's filtered child, or anything else it
// starts, goes with it), with stdout and stderr collected, bounded by a deadline after which the
// whole group is killed, and killed (the whole group) when the test that started it ends — pass,
// fail or timeout (pass `t`) — and when the test process exits.
// A test that waits for something waits for that event: a line of output (`waitFor`) or a file
// (`waitForFile`), each with its own deadline and a failure that names what it waited for and
// shows the end of the output. Nothing here polls a process's output for a proxy of the event.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = fileURLToPath(new URL('../runner/earlyphase.mjs', import.meta.url));
/** No Vulkan driver visible: a command that reached the GPU would fail with "no WebGPU adapter found". */
export const NO_GPU = { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_ADD_DRIVER_FILES: '' };
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  /** Killed at its deadline (err then ends with a line saying so). */
  timedOut: boolean;
  seconds: number;
}

export interface ProcOptions {
  /** Added to process.env; a key set to undefined is removed. */
  env?: Record<string, string | undefined>;
  /** Instead of process.env (then `env` is added to this). */
  baseEnv?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The whole group is killed after this long (default 5 minutes). */
  timeoutMs?: number;
  /** The test that owns the process: it is killed (with its group) when that test ends. */
  t?: TestContext;
  /** Names the process in failure messages (default: its command line). */
  label?: string;
  /** stderr is also copied to this process's stderr as it arrives (a worker's log). */
  echo?: boolean;
}

/** Every group still running, killed when this process exits whatever the reason. */
const live = new Set<Proc>();
process.on('exit', () => { for (const p of live) p.kill(); });

/** A running command in a process group of its own. */
export class Proc {
  readonly child: ChildProcess;
  out = '';
  err = '';
  timedOut = false;
  readonly done: Promise<Result>;
  readonly label: string;
  private readonly t0 = Date.now();
  private closed = false;
  private waiters = new Set<() => void>();

  constructor(command: string, args: readonly string[], o: ProcOptions = {}) {
    this.label = o.label ?? [command, ...args].join(' ');
    const env: NodeJS.ProcessEnv = { ...(o.baseEnv ?? process.env) };
    for (const [k, v] of Object.entries(o.env ?? {})) { if (v === undefined) delete env[k]; else env[k] = v; }
    this.child = spawn(command, args, { cwd: o.cwd ?? ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => { this.out += s; this.wake(); });
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => { this.err += s; if (o.echo) process.stderr.write(s); this.wake(); });
    const timeoutMs = o.timeoutMs ?? 300_000;
    const timer = setTimeout(() => { this.timedOut = true; this.kill(); }, timeoutMs);
    o.t?.after(() => this.kill());
    this.done = new Promise((resolve, reject) => {
      this.child.once('error', (e) => { clearTimeout(timer); this.finish(); reject(e); });
      this.child.once('close', (status, signal) => {
        clearTimeout(timer);
        // The leader is gone: whatever it left in its group goes too.
        this.finish();
        if (this.timedOut) this.err += `\n[${this.label}: killed with its process group after ${timeoutMs / 1000} s (its deadline)]\n`;
        resolve({ status, signal, out: this.out, err: this.err, timedOut: this.timedOut, seconds: (Date.now() - this.t0) / 1000 });
      });
    });
  }

  get pid(): number { return this.child.pid!; }
  get running(): boolean { return !this.closed; }

  /** Sends `sig` to the whole group (as a terminal's Ctrl-C reaches every process of the job). */
  signal(sig: NodeJS.Signals): void {
    if (this.closed || !this.child.pid) return;
    try { process.kill(-this.child.pid, sig); } catch { /* already gone */ }
  }

  /** Sends `sig` to the process started (not its group): a service manager's `kill PID`, which the CLI's wrapper passes on. */
  signalLeader(sig: NodeJS.Signals): void {
    if (!this.closed) this.child.kill(sig);
  }

  /** SIGKILL to the whole group. */
  kill(): void {
    if (!this.child.pid) return;
    try { process.kill(-this.child.pid, 'SIGKILL'); } catch { /* already gone */ }
  }

  private finish(): void {
    this.kill();
    this.closed = true;
    live.delete(this);
    this.wake();
  }

  private wake(): void { for (const w of [...this.waiters]) w(); }

  private tail(): string {
    const cut = (s: string) => (s.length > 3000 ? `…${s.slice(-3000)}` : s);
    return `\n--- stderr of ${this.label}:\n${cut(this.err)}${this.out ? `\n--- stdout:\n${cut(this.out)}` : ''}`;
  }

  /**
   * Resolves once `check` returns a value (checked at once, on every output chunk and every
   * `pollMs` when given); rejects when the process ends first or after `timeoutMs`, naming `what`.
   */
  private wait<T>(check: () => T | null | undefined, what: string, timeoutMs: number, pollMs?: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined, poll: NodeJS.Timeout | undefined;
      const stop = () => { this.waiters.delete(test); clearTimeout(timer); clearInterval(poll); };
      const test = () => {
        const v = check();
        if (v !== null && v !== undefined) { stop(); resolve(v); return; }
        if (this.closed) {
          stop();
          const how = this.timedOut ? 'was killed at its deadline' : `exited (${this.child.exitCode ?? this.child.signalCode})`;
          reject(new Error(`${this.label} ${how} before ${what}${this.tail()}`));
        }
      };
      this.waiters.add(test);
      timer = setTimeout(() => { stop(); reject(new Error(`no ${what} within ${timeoutMs / 1000} s from ${this.label}${this.tail()}`)); }, timeoutMs);
      if (pollMs) poll = setInterval(test, pollMs);
      test();
    });
  }

  /**
   * The first match of `re` in stderr (or stdout, or both) from character `from` on. `what` names
   * the awaited event in the failure message (default: the pattern).
   */
  waitFor(re: RegExp, o: { stream?: 'err' | 'out'; from?: number; timeoutMs?: number; what?: string } = {}): Promise<RegExpMatchArray> {
    const text = () => (o.stream === 'out' ? this.out : this.err).slice(o.from ?? 0);
    return this.wait(() => text().match(re), o.what ?? `output matching ${re}`, o.timeoutMs ?? 120_000);
  }

  /** Resolves once `path` exists (`path` may be a function returning the path, or null while there is none yet). */
  waitForFile(path: string | (() => string | null), o: { timeoutMs?: number; what?: string } = {}): Promise<string> {
    const find = () => { const p = typeof path === 'string' ? path : path(); return p && existsSync(p) ? p : null; };
    return this.wait(find, o.what ?? (typeof path === 'string' ? `file ${path}` : 'the awaited file'), o.timeoutMs ?? 120_000, 20);
  }
}

/** Starts `command args` in a group of its own. */
export function startCommand(command: string, args: readonly string[], o: ProcOptions = {}): Proc {
  return new Proc(command, args, o);
}

/** Runs `command args` to its end (or its deadline) in a group of its own. */
export function runCommand(command: string, args: readonly string[], o: ProcOptions = {}): Promise<Result> {
  return new Proc(command, args, o).done;
}

export interface CliOptions extends ProcOptions {
  /** Node options before the CLI script (e.g. ['--import', injector]). */
  node?: string[];
  /** A program (and its arguments) that runs node: e.g. ['/usr/bin/setpriv', '--reuid=65534', …]. */
  prefix?: string[];
}

function cliCommand(args: readonly string[], o: CliOptions): [string, string[]] {
  const argv = [...(o.node ?? []), CLI, ...args];
  return o.prefix?.length ? [o.prefix[0]!, [...o.prefix.slice(1), process.execPath, ...argv]] : [process.execPath, argv];
}

/** Starts `earlyphase args`. */
export function startCli(args: readonly string[], o: CliOptions = {}): Proc {
  const [command, argv] = cliCommand(args, o);
  return new Proc(command, argv, { ...o, label: o.label ?? `earlyphase ${args.join(' ')}` });
}

/** Runs `earlyphase args` to its end. */
export function earlyphase(args: readonly string[], o: CliOptions = {}): Promise<Result> {
  return startCli(args, o).done;
}

/** The last stdout line parsed as JSON: a train command's result line. */
export function lastJson<T = Record<string, any>>(out: string): T {
  return JSON.parse(out.trim().split('\n').at(-1)!) as T;
}

/** stderr without the line every data-reading command prints first (`data: …`). */
export function errorLines(err: string): string[] {
  return err.split('\n').filter(Boolean).filter((l) => !l.startsWith('data: '));
}
