// `earlyphase train` and its data (issue 14 item 4, issue 15 item 9), on a tiny generated
// Fashion-MNIST-shaped set (lavapipe, a few iterations): the run says which files it read and
// records them in data.json; the same command on other files is refused with one line instead of
// reporting the old result; a --data-dir that does not exist or lacks files is exit 2 before any
// GPU work, never a silent fallback to the system's Fashion-MNIST.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeIdx } from '../../src/data/idx.ts';
import { earlyphase, NO_GPU } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

const ARGS = ['train', '--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--batch-size', '16',
  '--training-steps', '2it', '--adapter', 'llvmpipe', '--quiet'];
const run = (args: string[], env: Record<string, string> = {}) => earlyphase(args, { env: { EARLYPHASE_DATA: '', ...env }, timeoutMs: 120_000 });

/** 32 train and 8 test images of 28×28 in `dir`; `seed` changes the pixels. */
function writeData(dir: string, seed: number): void {
  mkdirSync(dir, { recursive: true });
  const images = (n: number) => encodeIdx([n, 28, 28], Uint8Array.from({ length: n * 784 }, (_, i) => (i * 13 + seed * 7) % 256));
  const labels = (n: number) => encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => i % 10));
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images(32));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels(32));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images(8));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels(8));
}

test('a run records the files it read and refuses other data; a bad --data-dir is exit 2, never a fallback', async () => {
  const base = tempDir('earlyphase-e2e-');
  {
    const a = join(base, 'a'), b = join(base, 'b'), root = join(base, 'runs');
    writeData(a, 1);
    writeData(b, 2);
    const first = await run([...ARGS, '--data-dir', a, '--root', root]);
    assert.equal(first.status, 0, first.err);
    assert.match(first.err, new RegExp(`^data: fashion_mnist from ${join(a, 'train-images-idx3-ubyte')}, .*${join(a, 't10k-labels-idx1-ubyte')} \\(fingerprint [0-9a-f]{12}\\)$`, 'm'));
    const dir = JSON.parse(first.out.trim().split('\n').at(-1)!).run as string;
    const record = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
    assert.deepEqual(record.files.map((f: { role: string }) => f.role), ['train-images', 'train-labels', 'test-images', 'test-labels']);
    assert.equal(readFileSync(join(dir, 'data.json.sha256'), 'utf8').split('  ')[1], 'data.json\n');

    const again = await run([...ARGS, '--data-dir', a, '--root', root]);
    assert.equal(again.status, 0, again.err);
    assert.equal(JSON.parse(again.out.trim().split('\n').at(-1)!).skipped, true);

    const other = await run([...ARGS, '--data-dir', b, '--root', root]);
    assert.equal(other.status, 2, other.err);
    const line = other.err.trim().split('\n').at(-1)!;
    assert.match(line, new RegExp(`${join(dir, 'data.json').replace(/.*\/train_/, 'train_')}: this run folder was trained on fashion_mnist from ${a}/.*but the data read now come from ${b}/`));
    assert.doesNotMatch(other.out, /skipped/);

    // Named locations that do not hold the data: refused before the GPU (none is reachable here).
    const missing = await run([...ARGS, '--data-dir', join(base, 'nope'), '--root', root], NO_GPU);
    assert.equal(missing.status, 2, missing.err);
    assert.match(missing.err, new RegExp(`--data-dir ${join(base, 'nope')} does not exist`));
    rmSync(join(b, 't10k-images-idx3-ubyte'));
    const half = await run([...ARGS, '--root', root], { ...NO_GPU, EARLYPHASE_DATA: b });
    assert.equal(half.status, 2, half.err);
    assert.match(half.err, new RegExp(`dataset "fashion_mnist" not found in EARLYPHASE_DATA ${b}`));
    assert.doesNotMatch(half.err, /^  \/usr\/share\/datasets/m, "the system copy is not searched");
  }
});
