// Ctrl-C during `earlyphase train` (SIGINT to the whole process group, as a terminal sends it):
// one note says where the run stopped and which checkpoint the same command resumes from, the
// exit code is 130, and running the command again resumes there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tempDir } from '../temp-dir.ts';

const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--training-steps', '3000it',
  '--subsample-fraction', '0.02'];

/** Starts `train` in its own process group and sends SIGINT to the group once `until` has matched stderr. */
async function trainUntil(root: string, until: (stderr: string) => boolean, adapter = 'llvmpipe'): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ['runner/earlyphase.mjs', 'train', ...FLAGS, '--adapter', adapter, '--root', root], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '', sent = false;
  return new Promise((resolve) => {
    child.stderr.on('data', (b: Buffer) => {
      stderr += b;
      if (!sent && until(stderr)) { sent = true; process.kill(-child.pid!, 'SIGINT'); }
    });
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('Ctrl-C says where the run stopped and how to resume; the same command resumes there', { timeout: 180_000 }, async () => {
  const root = tempDir('earlyphase-interrupt-');
  // Three evaluations seen: the first epochs' checkpoints are certainly written.
  const first = await trainUntil(root, (s) => (s.match(/test accuracy/g) ?? []).length >= 3);
  assert.equal(first.code, 130, first.stderr);
  const note = /interrupted: (\S+) at iteration (\d+) of 3000; its last checkpoint is at iteration (\d+)\. Run the same command again to resume/.exec(first.stderr);
  assert.ok(note, first.stderr);
  const at = Number(note[2]), checkpoint = Number(note[3]);
  assert.ok(checkpoint > 0 && checkpoint <= at, `checkpoint ${checkpoint} at ${at}`);
  const again = await trainUntil(root, (s) => /resuming at iteration/.test(s));
  assert.match(again.stderr, new RegExp(`resuming at iteration ${checkpoint}\\b`), again.stderr);
});

test('resuming a checkpoint made on another adapter warns that bitwise identity is lost', { timeout: 180_000 }, async () => {
  const root = tempDir('earlyphase-interrupt-');
  await trainUntil(root, (s) => (s.match(/test accuracy/g) ?? []).length >= 3);
  const other = await trainUntil(root, (s) => /resuming at iteration/.test(s), 'swiftshader');
  assert.match(other.stderr, /warning: resuming a checkpoint written on "[^"]*llvmpipe[^"]*" on "[^"]*SwiftShader[^"]*": the result will not be bitwise identical/i, other.stderr);
});
