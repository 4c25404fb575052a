// What the job-queue tests share: a redis-server of their own on a free loopback port (no
// persistence, so a restart loses its data as a real one without --appendonly would), and
// `earlyphase worker` processes whose stderr is kept. Both run in process groups of their own
// that `kill()` ends whole; tests call it from test.after, on success, failure and timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const cli = fileURLToPath(new URL('../runner/earlyphase.mjs', import.meta.url));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

const killGroup = (p: ChildProcess | null) => { try { if (p?.pid) process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ } };

/** A redis-server of our own; `restart` saves its data, stops it and starts it again on the same port. */
export class Redis {
  proc: ChildProcess | null = null;
  constructor(readonly port: number, readonly dataDir: string) {}
  get url() { return `redis://127.0.0.1:${this.port}`; }
  async start() {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dataDir], { stdio: 'ignore', detached: true });
    for (let i = 0; i < 100; i++) {
      if (await new Promise<boolean>((r) => { const s = createConnection(this.port, '127.0.0.1'); s.once('connect', () => { s.end(); r(true); }); s.once('error', () => r(false)); })) return;
      await sleep(100);
    }
    throw new Error('redis-server did not start');
  }
  async restart(downMs: number) {
    const exited = new Promise((r) => this.proc!.once('exit', r));
    const s = createConnection(this.port, '127.0.0.1');
    s.write('SHUTDOWN SAVE\r\n');
    s.on('error', () => {});
    await exited;
    await sleep(downMs);
    await this.start();
  }
  kill() { killGroup(this.proc); }
}

/** A worker process whose stderr is kept; waitFor resolves with the first match of a pattern. */
export class Worker {
  log = '';
  proc: ChildProcess;
  exited: Promise<number | null>;
  constructor(readonly name: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    // Its own process group: kill() ends the wrapper and the CLI under it together.
    this.proc = spawn(process.execPath, [cli, 'worker', '--name', name, '--adapter', 'llvmpipe', '--quiet', ...args], { env, stdio: ['ignore', 'inherit', 'pipe'], detached: true });
    this.proc.stderr!.on('data', (d) => { this.log += String(d); });
    this.exited = new Promise((r) => this.proc.once('exit', (code) => r(code)));
  }
  async waitFor(re: RegExp, ms = 120_000): Promise<RegExpMatchArray> {
    const t0 = Date.now();
    for (;;) {
      const m = this.log.match(re);
      if (m) return m;
      if (Date.now() - t0 > ms || this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`worker ${this.name}: no ${re} within ${ms / 1000} s or before it exited; log:\n${this.log}`);
      await sleep(100);
    }
  }
  kill() { killGroup(this.proc); }
}
