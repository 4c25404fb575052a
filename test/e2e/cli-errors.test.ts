// Bad set-ups and bad options give one clear line and a non-zero exit, before any GPU work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../temp-dir.ts';

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
function run(args: string[], env: Record<string, string> = {}, prefix: string[] = [process.execPath]) {
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: r.status, out: r.stdout, err: r.stderr, signal: r.signal };
}

/** Exit 2 and exactly one line on stderr, matching `re`; before any GPU work (no adapter line, no run folder). */
function oneLine(args: string[], re: RegExp, prefix?: string[], env: Record<string, string> = {}) {
  const r = run(args, env, prefix);
  assert.equal(r.signal, null, `${args.join(' ')}: killed by ${r.signal} (a hang?)`);
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.err}`);
  // Besides the line saying which data files were read (every command prints it), one error line.
  const lines = r.err.split('\n').filter(Boolean).filter((l) => !l.startsWith('data: '));
  assert.equal(lines.length, 1, `${args.join(' ')}: one line, got:\n${r.err}`);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.err, /\n\s+at |Usage:/, 'no stack trace, no usage text');
}

const LENET = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.01', '--training-steps', '1it', '--quiet'];

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

test('unknown option ⇒ one line naming it, exit 2', () => {
  oneLine(['bench', '--nope'], /^earlyphase: unknown option '--nope'$/);
});

test('bad number ⇒ one line naming the flag and the value, exit 2', () => {
  oneLine(['bench', '--reps', 'many'], /--reps <n>.*expected a positive integer, got "many"/);
});

// Issue 14 item 8: each of these was exit 1 with the usage text, a stack trace, "invalid value
// null", a message without the flag, or a refusal after the GPU had started.
test('bad values ⇒ one line naming the flag and what is expected, exit 2, before any GPU work', () => {
  const root = tempDir('earlyphase-e2e-');
  const F = [...LENET, '--root', root];
  oneLine(['train', ...F, '--replicate', '-1'], /--replicate <n>.*expected a positive integer, got "-1"/);
  // sweep --training-steps shrinks a preset; 50it is shorter than its 100it rewind point.
  oneLine(['sweep', 'rewinding', '--training-steps', '50it', '--root', root], /^earlyphase: --rewinding-steps 100it \(100 iterations\) is past the end of training \(50it = 50 iterations\)/);
  oneLine(['bench', '--reps', '0'], /--reps <n>.*expected a positive integer, got "0"/);
  oneLine(['bench', '--suite', 'matmull'], /^earlyphase: bench --suite: unknown suite matmull \(known: matmul, conv2d, training\)$/);
  oneLine(['train', ...F, '--lr', '1e400'], /^earlyphase: --lr: invalid value "1e400" \(too large for a 64-bit float\); expected a number > 0$/);
  // The whole training set (469 iterations per epoch): 99999999999999 epochs is past 2^53 iterations.
  oneLine(['train', ...F.map((a) => (a === '1it' ? '99999999999999ep' : a === '0.01' ? '1' : a))],
    /training.steps: step "99999999999999ep" is 99999999999999 epochs of \d+ iterations, more iterations than can be counted exactly/);
  oneLine(['train', ...F, '--momentum', '0.9', '--nesterov-momentum', '0.9'], /^earlyphase: --momentum \(0\.9\) and --nesterov-momentum \(0\.9\) are exclusive; set one of them to 0$/);
  oneLine(['instability', ...F, '--points', '1'], /--points <n>.*expected an integer from 2 to 1001.*got "1"/);
  oneLine(['instability', ...F, '--points', '100000'], /--points <n>.*expected an integer from 2 to 1001.*got "100000"/);
  oneLine(['check', '--filter', 'no such kernel case'], /^earlyphase: --filter "no such kernel case" matches no kernel case$/);
});

// Issue 14 item 7: a file → ENOTDIR stack trace after the GPU started; unwritable → EACCES stack
// trace; /proc/runs → Node's recursive mkdir looped forever.
test('--root that cannot hold runs ⇒ one line, exit 2, no hang, nothing created', () => {
  const dir = tempDir('earlyphase-e2e-');
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  oneLine(['train', ...LENET, '--root', file], /^earlyphase: --root .*a-file is a file, not a folder/);
  oneLine(['lottery', ...LENET, '--root', join(file, 'runs')], /^earlyphase: --root .*a-file\/runs: .*a-file is a file, so no folder can be made under it/);
  oneLine(['train', ...LENET, '--root', '/proc/runs'], /^earlyphase: --root \/proc\/runs is on the kernel's proc file system/);
  oneLine(['sweep', 'rewinding', '--dry-run', '--root', '/sys/runs'], /^earlyphase: --root \/sys\/runs is on the kernel's sysfs file system/);
  // Unwritable: root can write anywhere, so run as nobody where the test runs as root.
  const locked = join(dir, 'locked');
  mkdirSync(locked);
  chmodSync(locked, 0o555);
  chmodSync(dir, 0o755);
  const asNobody = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv')
    ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath] : [process.execPath];
  assert.ok(process.getuid?.() !== 0 || asNobody.length > 1, 'running as root needs setpriv to test an unwritable root');
  // tsx keeps its cache in the temp folder: give that user one it can write.
  const nobodyTmp = tempDir('earlyphase-e2e-');
  chmodSync(nobodyTmp, 0o777);
  oneLine(['train', ...LENET, '--root', join(locked, 'runs')], /^earlyphase: --root .*locked\/runs: .*locked \(where it would be created\) is not writable by this user/, asNobody, { TMPDIR: nobodyTmp });
  assert.ok(!existsSync(join(locked, 'runs')));
});

// Issue 14 item 6: ~30 Dawn "Buffer size exceeds" lines, a stack trace, exit 1 and a half-made run folder.
test('a batch that cannot fit on the adapter ⇒ one line with the largest that fits, exit 2, no run folder', () => {
  const root = tempDir('earlyphase-e2e-');
  oneLine(['train', ...LENET, '--batch-size', '100000000', '--adapter', 'llvmpipe', '--root', root],
    /^earlyphase: --batch-size 100000000: the input batch of mnist_lenet_300_100 alone would be \d+ MiB, more than the 128 MiB one buffer can hold on llvmpipe; use --batch-size \d+ or less$/);
  oneLine(['lottery', ...LENET, '--batch-size', '100000000', '--adapter', 'llvmpipe', '--root', root], /^earlyphase: --batch-size 100000000: /);
  assert.deepEqual(readdirSync(root), [], 'nothing written under --root');
});
