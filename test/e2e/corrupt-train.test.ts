// The corruption matrix for a finished LeNet `train` folder (test/fault/corrupt-matrix.ts): every
// file of the run × flip, truncate, delete, delete sidecar, bad sidecar ends recomputed to the
// reference result (byte-identical folder) or refused with one line naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openGpu } from '../../runner/host/dawn.ts';
import { loadDataset } from '../../runner/data/datasets.ts';
import { FsStorage } from '../../runner/storage/fs-storage.ts';
import { parseHparamArgv } from '../../src/train/hparams.ts';
import { train } from '../../src/train/trainer.ts';
import { writeFileWithChecksum } from '../../runner/storage/atomic-write.ts';
import { corruptionMatrix, flipWithoutSidecar } from '../fault/corrupt-matrix.ts';

async function editDone(p: string, edit: (d: Record<string, unknown>) => void): Promise<void> {
  const d = JSON.parse(readFileSync(p, 'utf8'));
  edit(d);
  await writeFileWithChecksum(p, JSON.stringify(d) + '\n');
}

test('train folder: each file × each damage ⇒ recomputed to the reference or refused naming the file', { timeout: 300_000 }, async () => {
  const data = await loadDataset('fashion_mnist');
  const gpu = await openGpu('llvmpipe');
  try {
    // 1,200 examples / 128 → 10 iterations per epoch; 30 in all.
    const { hparams } = parseHparamArgv(['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist',
      '--subsample-fraction', '0.02', '--training-steps', '30it']);
    const dir = 'train_x/replicate_1/main';
    const r = await corruptionMatrix({
      run: async (root, sink) => {
        const out = await train(gpu, new FsStorage(root), sink, { run: dir, dir, hparams, replicate: 1, data, evaluateOnlyAtEnd: true, saveIterations: [5, 15] });
        return { testAccuracy: out.testAccuracy, weightsHash: out.weightsHash };
      },
      files: ['hparams.json', 'metrics.csv', 'checkpoint.safetensors', 'model_ep0_it0.safetensors', 'model_ep0_it5.safetensors',
        'model_ep1_it5.safetensors', 'model_ep3_it0.safetensors', 'done.json'].map((f) => `${dir}/${f}`),
      mayBeDropped: (f) => f.endsWith('/checkpoint.safetensors'),
      // done.json rewritten with a matching sidecar: an accuracy edited by hand, and an old run's null accuracy.
      crafted: [
        { file: `${dir}/done.json`, name: 'accuracy edited, valid sidecar', apply: (p) => editDone(p, (d) => { d.testAccuracy = 0.998; }) },
        { file: `${dir}/done.json`, name: 'accuracy null, valid sidecar', apply: (p) => editDone(p, (d) => { d.testAccuracy = null; delete d.weightsFileSha256; }) },
        { file: `${dir}/model_ep3_it0.safetensors`, name: 'flip, no sidecar', apply: flipWithoutSidecar },
      ],
    });
    console.log(`# train corruption matrix: ${r.tried} tried, ${r.recomputed} recomputed to the reference, ${r.refused} refused naming the file`);
    assert.deepEqual(r.failures, []);
  } finally {
    gpu.destroy();
  }
});
