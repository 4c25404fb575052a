// `earlyphase train` end to end on real Fashion-MNIST (a 5% subsample, 3 short epochs, lavapipe):
// bitwise-identical weights from the same command, and the bad inputs of issue 3 rejected with
// clear messages — before any GPU work where possible. (A run killed and resumed ends
// byte-identical: test/e2e/kill-train.test.ts, killing it before each chosen file operation.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { earlyphase, NO_GPU } from '../cli.ts';
import { refused } from '../cli-parse.ts';
import { tempDir } from '../temp-dir.ts';

const BASE = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.05',
  '--adapter', 'llvmpipe'];
const SMALL = [...BASE, '--training-steps', '3ep', '--quiet'];

const run = (args: string[], env: Record<string, string> = {}) => earlyphase(args, { env });
const result = (out: string) => JSON.parse(out.trim().split('\n').at(-1)!) as { run: string; testAccuracy: number; weightsSha256: string; skipped: boolean };
const tmp = () => tempDir('earlyphase-e2e-');

test('same command twice ⇒ bitwise-identical final weights; a finished run is skipped', async () => {
  const a = tmp(), b = tmp();
  const [ra, rb] = await Promise.all([run(['train', ...SMALL, '--root', a]), run(['train', ...SMALL, '--root', b])]);
  assert.equal(ra.status, 0, ra.err);
  assert.equal(rb.status, 0, rb.err);
  assert.equal(result(ra.out).weightsSha256, result(rb.out).weightsSha256);
  assert.ok(result(ra.out).testAccuracy > 0.6, `test accuracy ${result(ra.out).testAccuracy}`);
  const again = await run(['train', ...SMALL, '--root', a]);
  assert.equal(again.status, 0, again.err);
  assert.equal(result(again.out).skipped, true);
  assert.equal(result(again.out).weightsSha256, result(ra.out).weightsSha256);
  const dir = result(ra.out).run;
  for (const f of ['hparams.json', 'metrics.csv', 'checkpoint.safetensors', 'model_ep0_it0.safetensors', 'model_ep3_it0.safetensors', 'done.json']) {
    assert.ok(existsSync(join(dir, f)), `missing ${f}`);
    assert.ok(existsSync(join(dir, f + '.sha256')), `missing ${f}.sha256`);
  }
  const rows = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.ok(rows.some((r) => r.startsWith('test_accuracy,72,')), 'test accuracy at the last iteration is logged');
  assert.match(dir, /train_[0-9a-f]{10}\/replicate_1\/main$/);
});

test('bad flags, presets and step strings fail before any GPU work, naming key and value', async () => {
  const cases: [string[], RegExp][] = [
    [['--default-hparams', 'mnist_lenet_300_100', '--no-such-knob', '3'], /no-such-knob/],
    [['--default-hparams', 'resnet_9000'], /resnet_9000.*(known|expected)/i],
    [['--default-hparams', 'mnist_lenet_300_100', '--lr', 'fast'], /lr.*fast/],
    [['--default-hparams', 'mnist_lenet_300_100', '--training-steps', '1.5ep'], /1\.5ep.*expected/],
    [['--default-hparams', 'cifar_resnet_20', '--optimizer-name', 'adam'], /momentum.*apply to sgd only.*adam/],
  ];
  // Refused while parsing (test/cli-parse.ts): exit 2, no stack trace, no GPU work.
  for (const [args, msg] of cases) await refused(['train', ...args, '--root', tmp()], msg);
  // As a process, with no Vulkan driver visible: if the command got as far as the GPU it would fail differently.
  const [args, msg] = cases[2]!;
  const r = await run(['train', ...args, '--root', tmp()], NO_GPU);
  assert.equal(r.status, 2, `${args.join(' ')}: ${r.err}`);
  assert.match(r.err, msg);
  assert.doesNotMatch(r.err, /adapter|Vulkan|    at /);
});

test('missing dataset lists where it looked; a corrupt IDX file is named', async () => {
  const empty = tmp();
  const r = await run(['train', '--default-hparams', 'mnist_lenet_300_100', '--data-dir', empty, '--root', tmp()],
    { ...NO_GPU, EARLYPHASE_DATA: '', HOME: empty });
  assert.equal(r.status, 2, r.err);
  assert.match(r.err, new RegExp(`mnist.*${empty}`, 's'));
  const bad = tmp();
  mkdirSync(join(bad, 'mnist'));
  for (const f of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte']) writeFileSync(join(bad, 'mnist', f), Buffer.from([0, 0, 8, 3, 0, 0, 0, 5]));
  for (const f of ['train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte']) writeFileSync(join(bad, 'mnist', f), Buffer.from([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]));
  const c = await run(['train', '--default-hparams', 'mnist_lenet_300_100', '--data-dir', bad, '--root', tmp()], NO_GPU);
  assert.equal(c.status, 2, c.err);
  assert.match(c.err, /images-idx3-ubyte/);
  rmSync(bad, { recursive: true });
});

test('NaN loss stops the run with a non-zero exit and no checkpoint holding NaN', async () => {
  const root = tmp();
  const r = await run(['train', ...SMALL, '--lr', '1e12', '--root', root]);
  assert.equal(r.status, 2, r.err);
  assert.match(r.err, /diverged/);
  const files = readdirSync(root, { recursive: true }).map(String);
  assert.ok(!files.some((f) => f.endsWith('checkpoint.safetensors')), `a checkpoint was written: ${files.join(', ')}`);
});

test('a checkpoint with a lying header is reported by name and recomputed, never used', async () => {
  const root = tmp();
  const first = await run(['train', ...BASE, '--training-steps', '1ep', '--root', root]);
  assert.equal(first.status, 0, first.err);
  const dir = result(first.out).run;
  // Pretend the run was killed after its checkpoint: drop done.json, then corrupt the checkpoint's header length.
  rmSync(join(dir, 'done.json')); rmSync(join(dir, 'done.json.sha256'));
  const ck = join(dir, 'checkpoint.safetensors');
  const bytes = readFileSync(ck);
  bytes.writeBigUInt64LE(BigInt(bytes.length * 4), 0);
  writeFileSync(ck, bytes);
  // A matching checksum, so the sidecar cannot catch it: the safetensors reader must.
  writeFileSync(ck + '.sha256', `${createHash('sha256').update(bytes).digest('hex')}  checkpoint.safetensors\n`);
  const again = await run(['train', ...BASE, '--training-steps', '1ep', '--root', root]);
  assert.equal(again.status, 0, again.err);
  assert.match(again.err, /checkpoint\.safetensors.*header.*discarding/s);
  assert.equal(result(again.out).weightsSha256, result(first.out).weightsSha256);
});
