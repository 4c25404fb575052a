// After SIGKILLing `earlyphase` (the wrapper in runner/earlyphase.mjs), the CLI process under it
// (the run lock's owner) kills itself within ~100 ms (a watchdog thread); until then the lock
// rightly refuses a second writer. Tests that resume at once wait for that process to be gone.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Waits (up to 30 s) until every process named in a `.lock-*` file under root has exited. */
export async function lockOwnersGone(root: string): Promise<void> {
  const locks = readdirSync(root, { recursive: true }).map(String).filter((f) => /(^|\/)\.lock-[^/.]+$/.test(f));
  const pids = locks.flatMap((f) => { try { return [(JSON.parse(readFileSync(join(root, f), 'utf8')) as { pid: number }).pid]; } catch { return []; } });
  const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  for (const t0 = Date.now(); pids.some(alive) && Date.now() - t0 < 30_000;) await new Promise((r) => setTimeout(r, 50));
}
