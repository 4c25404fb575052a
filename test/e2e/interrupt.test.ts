// Ctrl-C during `earlyphase train` (SIGINT to the whole process group, as a terminal sends it):
// one note says where the run stopped and which checkpoint the same command resumes from, the
// exit code is 130, and running the command again resumes there; resuming on another adapter
// warns that bitwise identity is lost.
// Each run is interrupted once the event the test needs has happened: a checkpoint written (its
// sidecar, written after it, exists), or the line saying where a run resumes. Every run is in a
// process group of its own (test/cli.ts), killed whole when the test ends or at its deadline.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startCli, type Result } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

const FLAGS = ['train', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--training-steps', '3000it',
  '--subsample-fraction', '0.02'];

/** The run's checkpoint sidecar, <root>/train_<hash>/replicate_1/main/checkpoint.safetensors.sha256 (null before the run folder exists). */
function checkpointSidecar(root: string): string | null {
  const run = readdirSync(root).find((d) => d.startsWith('train_'));
  return run ? join(root, run, 'replicate_1', 'main', 'checkpoint.safetensors.sha256') : null;
}

/** Trains on `adapter` until a checkpoint is written, then Ctrl-C. */
async function interruptAfterCheckpoint(t: TestContext, root: string, adapter: string): Promise<Result> {
  const p = startCli([...FLAGS, '--adapter', adapter, '--root', root], { t, timeoutMs: 150_000 });
  await p.waitForFile(() => checkpointSidecar(root), { what: 'a checkpoint (checkpoint.safetensors and its sidecar written)', timeoutMs: 120_000 });
  // The CLI learns of the checkpoint (for its Ctrl-C note) right after writing it, before training
  // on; the next evaluation line is printed later in the same process, so once it is seen the note
  // knows a checkpoint.
  await p.waitFor(/test accuracy/, { from: p.err.length, what: 'the evaluation after the checkpoint', timeoutMs: 60_000 });
  p.signal('SIGINT');
  return p.done;
}

/** Runs the same command on `adapter` until it says where it starts, then Ctrl-C. */
async function startThenInterrupt(t: TestContext, root: string, adapter: string): Promise<{ r: Result; start: string }> {
  const p = startCli([...FLAGS, '--adapter', adapter, '--root', root], { t, timeoutMs: 150_000 });
  const [start] = await p.waitFor(/resuming at iteration \d+|iterations \d+→\d+/, { what: 'the line saying where the run starts', timeoutMs: 120_000 });
  p.signal('SIGINT');
  return { r: await p.done, start };
}

test('Ctrl-C says where the run stopped and how to resume; the same command resumes there', { timeout: 300_000 }, async (t) => {
  const root = tempDir('earlyphase-interrupt-');
  const first = await interruptAfterCheckpoint(t, root, 'llvmpipe');
  assert.equal(first.status, 130, first.err);
  const note = /interrupted: (\S+) at iteration (\d+) of 3000; its last checkpoint is at iteration (\d+)\. Run the same command again to resume/.exec(first.err);
  assert.ok(note, first.err);
  const at = Number(note[2]), checkpoint = Number(note[3]);
  assert.ok(checkpoint > 0 && checkpoint <= at, `checkpoint ${checkpoint} at ${at}`);
  const again = await startThenInterrupt(t, root, 'llvmpipe');
  assert.equal(again.start, `resuming at iteration ${checkpoint}`, again.r.err);
  assert.equal(again.r.status, 130, again.r.err);
});

test('resuming a checkpoint made on another adapter warns that bitwise identity is lost', { timeout: 300_000 }, async (t) => {
  const root = tempDir('earlyphase-interrupt-');
  const first = await interruptAfterCheckpoint(t, root, 'llvmpipe');
  assert.equal(first.status, 130, first.err);
  const other = await startThenInterrupt(t, root, 'swiftshader');
  assert.match(other.start, /^resuming at iteration [1-9]\d*$/, other.r.err);
  assert.match(other.r.err, /warning: resuming a checkpoint written on "[^"]*llvmpipe[^"]*" on "[^"]*SwiftShader[^"]*": the result will not be bitwise identical/i);
});
