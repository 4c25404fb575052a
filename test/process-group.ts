// Running a command for a test in a process group of its own, so that everything it starts (the
// CLI's filtered child, a Python interpreter) ends with it: the whole group is killed when the
// command outlives its time limit, and any group still running when the test process exits
// (an assertion failed, the runner's own timeout) is killed then.
import { spawn } from 'node:child_process';

const running = new Set<number>();
process.on('exit', () => { for (const pid of running) killGroup(pid); });

function killGroup(pid: number): void {
  try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
}

export interface GroupResult { status: number | null; signal: NodeJS.Signals | null; out: string; err: string; timedOut: boolean; seconds: number }

/** Runs `command args` in a new process group; after `timeoutMs` the whole group is killed. */
export function runGroup(command: string, args: readonly string[], o: { timeoutMs: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<GroupResult> {
  const t0 = Date.now();
  const child = spawn(command, args, { cwd: o.cwd, env: o.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid!;
  running.add(pid);
  let out = '', err = '', timedOut = false;
  child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const timer = setTimeout(() => { timedOut = true; killGroup(pid); }, o.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => { clearTimeout(timer); running.delete(pid); reject(e); });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      // The leader is gone; anything it left behind in its group goes too.
      killGroup(pid);
      running.delete(pid);
      resolve({ status, signal, out, err, timedOut, seconds: (Date.now() - t0) / 1000 });
    });
  });
}
