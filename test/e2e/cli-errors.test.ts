// Bad set-ups and bad options give one clear line and a non-zero exit, before any GPU work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

test('no Vulkan driver ⇒ error naming the driver to install', () => {
  const r = run(['check'], { VK_ICD_FILENAMES: '/nonexistent/icd.json', VK_ADD_DRIVER_FILES: '' });
  assert.equal(r.status, 2, r.err);
  assert.match(r.err, /no WebGPU adapter found; install a Vulkan driver.*lavapipe/);
});

test('unknown adapter name ⇒ error listing the adapters that exist', () => {
  const r = run(['check', '--adapter', 'no-such-gpu']);
  assert.equal(r.status, 2, r.err);
  assert.match(r.err, /adapter "no-such-gpu" not found; available: .*llvmpipe/);
});

test('unknown option ⇒ commander error naming it', () => {
  const r = run(['bench', '--nope']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /unknown option '--nope'/);
});

test('bad number ⇒ error naming the value', () => {
  const r = run(['bench', '--reps', 'many']);
  assert.notEqual(r.status, 0);
  assert.match(r.err, /expected a positive integer, got "many"/);
});
