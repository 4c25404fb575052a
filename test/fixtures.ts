// Shared fixtures: a run folder (or any files) built once and reused by every test file that needs
// the same runs, instead of each training them again. In a run of runner/test.mjs every file gets
// the same folder for them (EARLYPHASE_TEST_FIXTURES, inside the run's temp folder, removed with
// it): the first file that needs a fixture builds it there while any other that needs it waits,
// and the rest find it built. A file run on its own (node --test FILE) builds its fixtures in a
// temp folder of its own. Fixtures are read-only: a test that writes into one works on a copy
// (copyFixture).
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';

let own: string | null = null;
const base = () => process.env.EARLYPHASE_TEST_FIXTURES ?? (own ??= tempDir('earlyphase-fixtures-'));
const built = new Map<string, Promise<string>>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; } };

/**
 * The folder of fixture `name`, built by `build(dir)` into an empty folder the first time any test
 * file of the run asks for it. A builder that fails or dies leaves no fixture behind: the next
 * file that asks builds it again (and fails the same way, naming it).
 */
export function fixture(name: string, build: (dir: string) => Promise<void>, timeoutMs = 900_000): Promise<string> {
  let p = built.get(name);
  if (!p) { p = obtain(name, build, timeoutMs); built.set(name, p); }
  return p;
}

async function obtain(name: string, build: (dir: string) => Promise<void>, timeoutMs: number): Promise<string> {
  const dir = base(), final = join(dir, name), claim = join(dir, `${name}.building`);
  mkdirSync(dir, { recursive: true });
  for (const t0 = Date.now(); ; await sleep(200)) {
    if (existsSync(final)) return final;
    let mine = false;
    try { mkdirSync(claim); mine = true; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
    if (mine) {
      writeFileSync(join(claim, 'pid'), String(process.pid));
      const tmp = join(dir, `${name}.tmp-${process.pid}`);
      try {
        rmSync(tmp, { recursive: true, force: true });
        mkdirSync(tmp);
        await build(tmp);
        renameSync(tmp, final);
        return final;
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        throw new Error(`building the test fixture ${name} failed: ${(e as Error).message}`, { cause: e });
      } finally {
        rmSync(claim, { recursive: true, force: true });
      }
    }
    // Another test process builds it; if that process is gone without finishing, build it here.
    let pid = 0;
    try { pid = Number(readFileSync(join(claim, 'pid'), 'utf8')); } catch { /* not written yet, or just finished */ }
    if (pid && !alive(pid)) rmSync(claim, { recursive: true, force: true });
    if (Date.now() - t0 > timeoutMs) throw new Error(`the test fixture ${name} was not built within ${timeoutMs / 1000} s (by process ${pid || '?'})`);
  }
}

/** A fresh copy of fixture folder `from` (or a part of it), for a test that writes into it. */
export function copyFixture(from: string, prefix = 'earlyphase-fixture-copy-'): string {
  const to = tempDir(prefix);
  cpSync(from, to, { recursive: true });
  return to;
}

/** The flags of the small LeNet lottery several files inspect: 1,200 images, 2 epochs of 10 iterations, rewound to 5it. */
export const LENET_LOTTERY_FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '2ep', '--rewinding-steps', '5it', '--adapter', 'llvmpipe', '--quiet', '--evaluate-only-at-end'];

/**
 * That lottery's levels 0–2 and a randomly_reinitialize branch at levels 1 and 2, made by the CLI:
 * a runs root holding lottery_06562088fc (test/e2e/lottery.test.ts, test/browser/results.test.ts).
 */
export function lenetLottery(): Promise<string> {
  return fixture('lenet-lottery-2ep', async (dir) => {
    const { earlyphase } = await import('./cli.ts');
    for (const args of [['lottery', '--levels', '2'], ['branch', 'randomly_reinitialize', '--levels', '1,2']]) {
      const r = await earlyphase([...args, ...LENET_LOTTERY_FLAGS, '--root', dir], { timeoutMs: 300_000 });
      if (r.status !== 0) throw new Error(`earlyphase ${args.join(' ')}: exit ${r.status}\n${r.err}`);
    }
  });
}
