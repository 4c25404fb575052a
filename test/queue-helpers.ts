// What the job-queue tests share: a redis-server of their own on a free loopback port (no
// persistence, so a restart loses its data as a real one without --appendonly would), and
// `earlyphase worker` processes whose stderr is kept. Both are processes of test/cli.ts: each in a
// process group of its own that `kill()` ends whole, at its deadline, when the test process exits,
// and from test.after on success, failure and timeout.
import { createConnection, createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { startCli, startCommand, sleep, type Proc } from './cli.ts';

export { CLI as cli, sleep } from './cli.ts';

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const accepts = (port: number) => new Promise<boolean>((r) => {
  const s = createConnection(port, '127.0.0.1');
  s.once('connect', () => { s.end(); r(true); });
  s.once('error', () => r(false));
});

/** A redis-server of our own; `restart` saves its data, stops it and starts it again on the same port. */
export class Redis {
  proc: Proc | null = null;
  constructor(readonly port: number, readonly dataDir: string) {}
  get url() { return `redis://127.0.0.1:${this.port}`; }
  async start() {
    // --set-proc-title no: redis-server writes its title over the memory /proc/PID/environ reads, which
    // would erase the marker by which runner/test.mjs finds (and, on an interrupt, kills) what a test started.
    this.proc = startCommand('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dataDir, '--set-proc-title', 'no'],
      { label: `redis-server :${this.port}`, timeoutMs: 1_800_000 });
    for (const t0 = Date.now(); Date.now() - t0 < 10_000; await sleep(100)) {
      if (await accepts(this.port)) return;
      if (!this.proc.running) break;
    }
    throw new Error(`redis-server did not start on port ${this.port}: ${this.proc.err}`);
  }
  async restart(downMs: number) {
    const s = createConnection(this.port, '127.0.0.1');
    s.on('error', () => {});
    s.write('SHUTDOWN SAVE\r\n');
    await this.proc!.done;
    await sleep(downMs);
    await this.start();
  }
  kill() { this.proc?.kill(); }
}

/**
 * An `earlyphase worker` on lavapipe whose stderr is kept; waitFor resolves with the first match of
 * a pattern. Killed when the test `t` that started it ends (and at its deadline, and at exit).
 */
export class Worker {
  readonly proc: Proc;
  readonly exited: Promise<number | null>;
  constructor(readonly name: string, args: string[], env: NodeJS.ProcessEnv = process.env, t?: TestContext) {
    this.proc = startCli(['worker', '--name', name, '--adapter', 'llvmpipe', '--quiet', ...args], { baseEnv: env, timeoutMs: 600_000, label: `worker ${name}`, t });
    this.exited = this.proc.done.then((r) => r.status);
  }
  get log(): string { return this.proc.err; }
  waitFor(re: RegExp, ms = 300_000): Promise<RegExpMatchArray> {
    return this.proc.waitFor(re, { timeoutMs: ms, what: `a log line matching ${re} from worker ${this.name}` });
  }
  /** SIGTERM to the worker (its wrapper passes it on to the CLI, once), as a service manager stops it. */
  terminate() { this.proc.signalLeader('SIGTERM'); }
  kill() { this.proc.kill(); }
}

/** The first of `promises` to fulfil; when all reject, one error with each of their messages. */
export async function firstOf<T>(promises: Promise<T>[]): Promise<T> {
  try {
    return await Promise.any(promises);
  } catch (e) {
    if (e instanceof AggregateError) throw new Error(e.errors.map((x: Error) => x.message).join('\n\n'));
    throw e;
  }
}
