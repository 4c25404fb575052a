// The corruption matrix for a finished LeNet `lottery` (levels 0–1, rewind to 5 iterations;
// test/fault/corrupt-matrix.ts): w_0, w_k, level 0's final weights, level 1's mask, sparsity
// report, starting weights and done.json × flip, truncate, delete, delete sidecar, bad sidecar end
// recomputed to the reference (byte-identical folder, same levels) or refused naming the file.
// Before issue 15 a damaged w_0 / w_k (or garbage in its .sha256) was deleted and never recomputed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import { loadDataset } from '../../runner/data/datasets.ts';
import { FsStorage } from '../../runner/storage/fs-storage.ts';
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { levelDir, planLottery, runLottery, type LotteryJob } from '../../src/lottery/lottery.ts';
import { runBranch, type BranchJob } from '../../src/lottery/branch.ts';
import { UserError } from '../../src/errors.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileWithChecksum } from '../../runner/storage/atomic-write.ts';
import { denseMask, encodeMask, maskTensors } from '../../src/lottery/mask.ts';
import { corruptionMatrix, flipWithoutSidecar } from '../fault/corrupt-matrix.ts';

test('lottery folder: each trunk file × each damage ⇒ recomputed to the reference or refused naming the file', { timeout: 300_000 }, async () => {
  const data = await loadDataset('fashion_mnist');
  const gpu = await openGpu('llvmpipe');
  try {
    // 10 iterations per epoch, 20 in all, k = 5.
    const { hparams, lottery } = parseLotteryArgv(['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist',
      '--subsample-fraction', '0.02', '--training-steps', '20it', '--rewinding-steps', '5it']);
    const job: LotteryJob = { hparams, lottery, replicate: 1, maxLevel: 1, evaluateOnlyAtEnd: true };
    const plan = planLottery(job, data);
    const l0 = levelDir(plan, 0), l1 = levelDir(plan, 1);
    const layout = plan.params.layout();
    const writeMask = async (p: string, value: 0 | 1) => {
      const m = denseMask(plan.spec, layout);
      for (const t of maskTensors(plan.spec, layout)) if (t.prunable) m.fill(value, t.offset, t.offset + t.size);
      await writeFileWithChecksum(p, encodeMask(plan.spec, layout, m, 'U8', { level: '1' }));
    };
    const r = await corruptionMatrix({
      run: async (root, sink) => (await runLottery({ gpu, storage: new FsStorage(root), sink, data }, job))
        .map((l) => ({ level: l.level, density: l.density, testAccuracy: l.testAccuracy, weightsHash: l.weightsHash })),
      files: [`${l0}/model_ep0_it0.safetensors`, `${l0}/model_ep0_it5.safetensors`, `${l0}/model_ep2_it0.safetensors`,
        `${l1}/mask.safetensors`, `${l1}/sparsity_report.json`, `${l1}/model_ep0_it5.safetensors`, `${l1}/done.json`],
      mayBeDropped: (f) => f.endsWith('/checkpoint.safetensors'),
      // Valid files with matching sidecars that are wrong for level 1 (issue 15: accepted before).
      crafted: [
        { file: `${l1}/mask.safetensors`, name: 'all-ones mask, valid sidecar', apply: (p) => writeMask(p, 1) },
        { file: `${l1}/mask.safetensors`, name: 'all-zeros mask, valid sidecar', apply: (p) => writeMask(p, 0) },
        { file: `${l0}/model_ep0_it5.safetensors`, name: 'w_k flipped, no sidecar', apply: flipWithoutSidecar },
      ],
    });
    console.log(`# lottery corruption matrix: ${r.tried} tried, ${r.recomputed} recomputed to the reference, ${r.refused} refused naming the file`);
    assert.deepEqual(r.failures, []);
  } finally {
    gpu.destroy();
  }
});

test('a branch refuses a damaged w_k in one line naming it; lottery regenerates w_k and the branch then runs', { timeout: 300_000 }, async (t) => {
  const data = await loadDataset('fashion_mnist');
  const gpu = await openGpu('llvmpipe');
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-branch-wk-'));
  t.after(() => { gpu.destroy(); rmSync(root, { recursive: true, force: true }); });
  const { hparams, lottery } = parseLotteryArgv(['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist',
    '--subsample-fraction', '0.02', '--training-steps', '20it', '--rewinding-steps', '5it']);
  const job: LotteryJob = { hparams, lottery, replicate: 1, maxLevel: 1, evaluateOnlyAtEnd: true };
  const env = { gpu, storage: new FsStorage(root), sink: () => {}, data };
  const branch: BranchJob = { ...job, branch: 'randomly_reinitialize', options: {}, seed: 1, levels: [1] };
  await runLottery(env, job);
  const wk = join(root, levelDir(planLottery(job, data), 0), 'model_ep0_it5.safetensors');
  const good = readFileSync(wk);
  writeFileSync(`${wk}.sha256`, 'garbage'); // the file is fine; its sidecar is not
  await assert.rejects(runBranch(env, branch), (e: unknown) => e instanceof UserError && !e.message.includes('\n') &&
    e.message.includes('model_ep0_it5.safetensors') && /run earlyphase lottery with the same options, which recomputes it/.test(e.message));
  await runLottery(env, job);
  assert.ok(readFileSync(wk).equals(good), 'w_k regenerated bit for bit');
  const [b] = await runBranch(env, branch);
  assert.equal(b!.level, 1);
});
