// One writer per run folder for commands run by hand (runner/run-lock.ts): a second identical
// `lottery` while the first runs is refused with one line naming the writer (exit 2) instead of
// training every level a second time at once; after a SIGKILL the next run takes the folder over
// at once (it resumes from whatever checkpoint the folder holds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lockOwnersGone } from '../lock-owner.ts';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'earlyphase-lockcli-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
const ARGS = ['lottery', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '3ep', '--levels', '1', '--evaluate-only-at-end', '--adapter', 'llvmpipe', '--root', root];

/** Starts the command; resolves once its stderr matches `re`, with the process and its exit. */
async function startUntil(args: string[], re: RegExp) {
  const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  await new Promise<void>((resolve, reject) => {
    p.stderr.on('data', (d) => { err += String(d); if (re.test(err)) resolve(); });
    void exited.then(() => reject(new Error(`exited before ${re}: ${err}`)));
  });
  return { p, exited, err: () => err };
}

test('a second identical lottery is refused while the first writes; a killed one is taken over and resumed', { timeout: 180_000 }, async () => {
  const first = await startUntil(ARGS, /level_0: .*iterations 0→30/);
  const second = spawnSync(process.execPath, [cli, ...ARGS], { encoding: 'utf8' });
  assert.equal(second.status, 2, second.stderr);
  // Besides the line saying which data files were read, one line naming the writer.
  const lines = second.stderr.trim().split('\n').filter((l) => !l.startsWith('data: '));
  assert.match(lines[0]!, /^earlyphase: \S+lottery_\w+\/replicate_1 is being written by earlyphase lottery \(\S+:\d+:\w+\) .*wait for it to finish or stop it/);
  assert.equal(lines.length, 1, second.stderr);
  assert.equal(await first.exited, 0, first.err());

  rmSync(root, { recursive: true, force: true });
  const doomed = await startUntil(ARGS, /level_0: .*iterations 0→30/);
  await new Promise((r) => setTimeout(r, 1500));
  doomed.p.kill('SIGKILL');
  await doomed.exited;
  await lockOwnersGone(root);
  const again = spawnSync(process.execPath, [cli, ...ARGS], { encoding: 'utf8' });
  assert.equal(again.status, 0, again.stderr);
  const trunk = join(root, readdirSync(root)[0]!, 'replicate_1');
  assert.match(readFileSync(join(trunk, '.lock-lottery.log'), 'utf8'), /takeover from earlyphase lottery .*\n.* release\n$/);
});
