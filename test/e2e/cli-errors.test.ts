// Bad set-ups and bad options give one clear line and a non-zero exit, before any GPU work.
// What the CLI finds while parsing is checked in this process (test/cli-parse.ts: the real
// commander program and the checks each command makes before any work); as processes, one case
// of each kind of refusal (commander's own, an option parser's, a command's check, a run root, the
// data, the adapter) shows that the CLI prints it as one line, exit 2, with no usage text, no
// stack trace and no GPU work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkRunRoot } from '../../runner/storage/run-root.ts';
import { UserError } from '../../src/errors.ts';
import { earlyphase, errorLines, NO_GPU, type CliOptions } from '../cli.ts';
import { refusedInOneLine } from '../cli-parse.ts';
import { tempDir } from '../temp-dir.ts';

/** Exit 2 and exactly one line on stderr, matching `re`; no stack trace, no usage text. */
async function oneLine(args: string[], re: RegExp, o: CliOptions = {}) {
  const r = await earlyphase(args, { timeoutMs: 60_000, ...o });
  assert.equal(r.signal, null, `${args.join(' ')}: killed by ${r.signal} (a hang?)`);
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.err}`);
  // Besides the line saying which data files were read (every command prints it), one error line.
  const lines = errorLines(r.err);
  assert.equal(lines.length, 1, `${args.join(' ')}: one line, got:\n${r.err}`);
  assert.match(lines[0]!, re);
  assert.doesNotMatch(r.err, /\n\s+at |Usage:/, 'no stack trace, no usage text');
}

const LENET = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.01', '--training-steps', '1it', '--quiet'];

test('no Vulkan driver ⇒ error naming the driver to install; unknown adapter name ⇒ error listing the adapters that exist', async () => {
  const [none, unknown] = await Promise.all([earlyphase(['check'], { env: NO_GPU }), earlyphase(['check', '--adapter', 'no-such-gpu'])]);
  assert.equal(none.status, 2, none.err);
  assert.match(none.err, /no WebGPU adapter found; install a Vulkan driver.*lavapipe/);
  assert.equal(unknown.status, 2, unknown.err);
  assert.match(unknown.err, /adapter "no-such-gpu" not found; available: .*llvmpipe/);
});

test('unknown option, bad number, bad value ⇒ one line naming it, exit 2 (as processes, one of each kind)', async () => {
  // Commander's own refusal, an option parser's (InvalidArgumentError), and a command's check (a UserError), with no driver visible.
  await Promise.all([
    oneLine(['bench', '--nope'], /^earlyphase: unknown option '--nope'$/, { env: NO_GPU }),
    oneLine(['bench', '--reps', 'many'], /--reps <n>.*expected a positive integer, got "many"/, { env: NO_GPU }),
    oneLine(['train', ...LENET, '--lr', '1e400', '--root', tempDir('earlyphase-e2e-')], /^earlyphase: --lr: invalid value "1e400" \(too large for a 64-bit float\); expected a number > 0$/, { env: NO_GPU }),
  ]);
});

// Issue 14 item 8: each of these was exit 1 with the usage text, a stack trace, "invalid value
// null", a message without the flag, or a refusal after the GPU had started.
test('bad values ⇒ one line naming the flag and what is expected, exit 2, before any GPU work', async () => {
  const root = tempDir('earlyphase-e2e-');
  const F = [...LENET, '--root', root];
  // Found while parsing (test/cli-parse.ts).
  await refusedInOneLine(['bench', '--nope'], /^earlyphase: unknown option '--nope'$/);
  await refusedInOneLine(['bench', '--reps', 'many'], /--reps <n>.*expected a positive integer, got "many"/);
  await refusedInOneLine(['train', ...F, '--replicate', '-1'], /--replicate <n>.*expected a positive integer, got "-1"/);
  await refusedInOneLine(['bench', '--reps', '0'], /--reps <n>.*expected a positive integer, got "0"/);
  await refusedInOneLine(['bench', '--suite', 'matmull'], /^earlyphase: bench --suite: unknown suite matmull \(known: matmul, conv2d, training\)$/);
  await refusedInOneLine(['train', ...F, '--lr', '1e400'], /^earlyphase: --lr: invalid value "1e400" \(too large for a 64-bit float\); expected a number > 0$/);
  await refusedInOneLine(['train', ...F, '--momentum', '0.9', '--nesterov-momentum', '0.9'], /^earlyphase: --momentum \(0\.9\) and --nesterov-momentum \(0\.9\) are exclusive; set one of them to 0$/);
  await refusedInOneLine(['instability', ...F, '--points', '1'], /--points <n>.*expected an integer from 2 to 1001.*got "1"/);
  await refusedInOneLine(['instability', ...F, '--points', '100000'], /--points <n>.*expected an integer from 2 to 1001.*got "100000"/);
  await refusedInOneLine(['check', '--filter', 'no such kernel case'], /^earlyphase: --filter "no such kernel case" matches no kernel case$/);
  // Found once the data is read (iterations per epoch), still before the GPU: as processes.
  await Promise.all([
    // sweep --training-steps shrinks a preset; 50it is shorter than its 100it rewind point.
    oneLine(['sweep', 'rewinding', '--training-steps', '50it', '--root', root], /^earlyphase: --rewinding-steps 100it \(100 iterations\) is past the end of training \(50it = 50 iterations\)/, { env: NO_GPU }),
    // The whole training set (469 iterations per epoch): 99999999999999 epochs is past 2^53 iterations.
    oneLine(['train', ...F.map((a) => (a === '1it' ? '99999999999999ep' : a === '0.01' ? '1' : a))],
      /training.steps: step "99999999999999ep" is 99999999999999 epochs of \d+ iterations, more iterations than can be counted exactly/, { env: NO_GPU }),
  ]);
});

// Issue 14 item 7: a file → ENOTDIR stack trace after the GPU started; unwritable → EACCES stack
// trace; /proc/runs → Node's recursive mkdir looped forever.
test('--root that cannot hold runs ⇒ one line, exit 2, no hang, nothing created', async () => {
  const dir = tempDir('earlyphase-e2e-');
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  // The check every command makes of --root before anything else (runner/storage/run-root.ts), in this process…
  const refusedRoot = (root: string, re: RegExp) => assert.throws(() => checkRunRoot(root), (e: Error) => e instanceof UserError && !e.message.includes('\n') && re.test(`earlyphase: ${e.message}`));
  refusedRoot(file, /^earlyphase: --root .*a-file is a file, not a folder/);
  refusedRoot(join(file, 'runs'), /^earlyphase: --root .*a-file\/runs: .*a-file is a file, so no folder can be made under it/);
  refusedRoot('/sys/runs', /^earlyphase: --root \/sys\/runs is on the kernel's sysfs file system/);
  // …and as processes: the first case; /proc, where mkdir used to loop for ever (a process can be
  // stopped at its deadline; a loop in this one could not); and a folder this user cannot write.
  const locked = join(dir, 'locked');
  mkdirSync(locked);
  chmodSync(locked, 0o555);
  chmodSync(dir, 0o755);
  // Unwritable: root can write anywhere, so run as nobody where the test runs as root.
  const asNobody = process.getuid?.() === 0 && existsSync('/usr/bin/setpriv') ? ['/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  assert.ok(process.getuid?.() !== 0 || asNobody.length > 0, 'running as root needs setpriv to test an unwritable root');
  // tsx keeps its cache in the temp folder: give that user one it can write.
  const nobodyTmp = tempDir('earlyphase-e2e-');
  chmodSync(nobodyTmp, 0o777);
  await Promise.all([
    oneLine(['train', ...LENET, '--root', file], /^earlyphase: --root .*a-file is a file, not a folder/),
    oneLine(['lottery', ...LENET, '--root', join(file, 'runs')], /^earlyphase: --root .*a-file\/runs: .*a-file is a file, so no folder can be made under it/),
    oneLine(['train', ...LENET, '--root', '/proc/runs'], /^earlyphase: --root \/proc\/runs is on the kernel's proc file system/),
    oneLine(['sweep', 'rewinding', '--dry-run', '--root', '/sys/runs'], /^earlyphase: --root \/sys\/runs is on the kernel's sysfs file system/),
    oneLine(['train', ...LENET, '--root', join(locked, 'runs')], /^earlyphase: --root .*locked\/runs: .*locked \(where it would be created\) is not writable by this user/,
      { prefix: asNobody, env: { TMPDIR: nobodyTmp, XDG_RUNTIME_DIR: undefined } }),
  ]);
  assert.ok(!existsSync(join(locked, 'runs')));
});

// Issue 14 item 6: ~30 Dawn "Buffer size exceeds" lines, a stack trace, exit 1 and a half-made run folder.
test('a batch that cannot fit on the adapter ⇒ one line with the largest that fits, exit 2, no run folder', async () => {
  const root = tempDir('earlyphase-e2e-');
  await Promise.all([
    oneLine(['train', ...LENET, '--batch-size', '100000000', '--adapter', 'llvmpipe', '--root', root],
      /^earlyphase: --batch-size 100000000: the input batch of mnist_lenet_300_100 alone would be \d+ MiB, more than the 128 MiB one buffer can hold on llvmpipe; use --batch-size \d+ or less$/),
    oneLine(['lottery', ...LENET, '--batch-size', '100000000', '--adapter', 'llvmpipe', '--root', root], /^earlyphase: --batch-size 100000000: /),
  ]);
  assert.deepEqual(readdirSync(root), [], 'nothing written under --root');
});
