// `earlyphase batches` without PyTorch or a GPU (src/train/batch-export.ts): the file holds each
// epoch's permutation chunked into batches with a short last one (or wrapped with --pad-last-batch),
// the augmentation draws of src/ref/batch.ts per (iteration, slot), the subsample's source indices,
// and refuses ranges it cannot write. test/e2e/openlth-replay.test.ts trains on such files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSafetensors } from '../../src/io/safetensors.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import { SYNTHETIC_DEFAULTS } from '../../src/data/synthetic.ts';
import { parseHparams } from '../../src/train/hparams.ts';
import { augmentChoice, CROP_PAD } from '../../src/ref/batch.ts';
import { DeviceDataset, epochOrder, transformTrainSet } from '../../src/train/device-data.ts';
import { BATCHES_FORMAT, dataOrderSeed, encodeBatches } from '../../src/train/batch-export.ts';

// 41 CIFAR-shaped examples at batch 8: 6 iterations per epoch, the last with 1.
const train = syntheticDataset({ ...SYNTHETIC_DEFAULTS, trainCount: 41, testCount: 1, noise: 0.1 });
const hp = (extra: Record<string, string> = {}) => parseHparams({ default_hparams: 'cifar_resnet_20', dataset_name: 'synthetic', batch_size: '8', training_steps: '3ep', ...extra });
const decode = (b: Uint8Array) => decodeSafetensors(b, 'batches');
const ints = (f: ReturnType<typeof decode>, name: string) => [...(f.tensors.get(name)!.data as Int32Array | Uint8Array)];

test('batches: each epoch\'s permutation chunked by the batch size, the last batch short, with the draws of every slot', () => {
  const h = hp();
  const f = decode(encodeBatches({ hparams: h, replicate: 3, train, from: 4, to: 14 }));
  assert.equal(f.metadata.format, BATCHES_FORMAT);
  assert.deepEqual([f.metadata.iterations_per_epoch, f.metadata.first_epoch, f.metadata.pad_last_batch, f.metadata.augment], ['6', '0', 'false', 'true']);
  assert.deepEqual(ints(f, 'batch_sizes'), [8, 1, 8, 8, 8, 8, 8, 1, 8, 8]);
  const seed = DeviceDataset.transformSeedOf(h, 3), perm = ints(f, 'permutations'), ex = ints(f, 'examples');
  assert.deepEqual(f.tensors.get('permutations')!.shape, [3, 41]);
  for (let e = 0; e < 3; e++) assert.deepEqual(perm.slice(e * 41, (e + 1) * 41), [...epochOrder(41, dataOrderSeed(h, 3), e, 8)], `epoch ${e}`);
  const dy = ints(f, 'dy'), dx = ints(f, 'dx'), flip = ints(f, 'flip');
  for (let it = 4; it < 14; it++) {
    const e = Math.floor(it / 6), i = it % 6, row = (it - 4) * 8;
    const chunk = perm.slice(e * 41 + i * 8, e * 41 + Math.min((i + 1) * 8, 41));
    assert.deepEqual(ex.slice(row, row + 8), [...chunk, ...Array(8 - chunk.length).fill(-1)], `iteration ${it}`);
    for (let b = 0; b < chunk.length; b++) {
      const a = augmentChoice(seed, it, b);
      assert.deepEqual([dy[row + b], dx[row + b], flip[row + b]], [a.dy, a.dx, a.flip ? 1 : 0], `iteration ${it} slot ${b}`);
    }
  }
});

test('batches: --pad-last-batch wraps to the permutation\'s start; without augmentation the crop sits on the image', () => {
  const f = decode(encodeBatches({ hparams: hp({ pad_last_batch: 'true', do_not_augment: 'true' }), replicate: 1, train, from: 5, to: 6 }));
  const perm = ints(f, 'permutations');
  assert.deepEqual(ints(f, 'batch_sizes'), [8]);
  assert.deepEqual(ints(f, 'examples'), [perm[40], ...perm.slice(0, 7)]);
  assert.deepEqual([...new Set([...ints(f, 'dy'), ...ints(f, 'dx')])], [CROP_PAD]);
  assert.deepEqual([...new Set(ints(f, 'flip'))], [0]);
  assert.equal(f.metadata.augment, 'false');
});

test('batches: a subsample names its source examples; --with-images writes the transformed set', () => {
  const h = hp({ subsample_fraction: '0.5', random_labels_fraction: '0.5' });
  const f = decode(encodeBatches({ hparams: h, replicate: 2, train, from: 0, to: 1, images: true }));
  const t = transformTrainSet(train, h, DeviceDataset.transformSeedOf(h, 2));
  const src = ints(f, 'source_index'), chw = 3 * 32 * 32;
  assert.equal(src.length, t.count);
  assert.deepEqual(f.tensors.get('images')!.data, t.images);
  assert.deepEqual(ints(f, 'labels'), [...t.labels]);
  src.forEach((s, j) => assert.deepEqual(t.images.subarray(j * chw, (j + 1) * chw), train.images.subarray(s * chw, (s + 1) * chw), `example ${j}`));
  assert.ok(new Set(src).size === src.length && src.every((s) => s >= 0 && s < 41));
});

test('batches: an empty range and one past the size bound are refused with what to do', () => {
  assert.throws(() => encodeBatches({ hparams: hp(), replicate: 1, train, from: 3, to: 3 }), /holds no iteration/);
  const huge = hp({ batch_size: '1', training_steps: '4000000ep' });
  assert.throws(() => encodeBatches({ hparams: huge, replicate: 1, train, from: 0, to: 41 * 4_000_000 }), /MiB, more than 512 MiB; export a shorter range/);
});
