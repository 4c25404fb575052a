// The report's records (src/report): legends name the hyperparameter that differs between runs,
// train runs get their curves, telemetry titles fit the runs' length, and the numbers are written
// as CSV/JSON rows. On in-memory trees, no GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectResults } from '../../src/report/collect.ts';
import { buildFigures, trunkLabels } from '../../src/report/figures.ts';
import { filesSource } from '../../src/report/files-source.ts';
import { differenceLabels } from '../../src/report/labels.ts';
import { resultRows, resultsCsv } from '../../src/report/tables.ts';

const hparams = (lr: number, batch = 128) => JSON.stringify({ dataset: { dataset_name: 'fashion_mnist', batch_size: batch }, training: { lr, training_steps: '2ep' } });

test('differenceLabels names only what differs, and null when nothing does', () => {
  const h = (lr: number, batch: number) => JSON.parse(hparams(lr, batch));
  const d = differenceLabels([{ key: 'a', hparams: h(0.1, 128) }, { key: 'b', hparams: h(0.05, 128) }, { key: 'c', hparams: h(0.05, 64) }]);
  assert.deepEqual([...d], [['a', 'batch_size 128, lr 0.1'], ['b', 'batch_size 128, lr 0.05'], ['c', 'batch_size 64, lr 0.05']]);
  assert.equal(differenceLabels([{ key: 'a', hparams: h(0.1, 128) }, { key: 'b', hparams: h(0.1, 128) }]).get('a'), null);
});

test('train runs: curves labelled by their differing hyperparameter; CSV/JSON rows for every run', () => {
  const files: Record<string, string> = {};
  for (const [name, lr] of [['train_aaa', 0.1], ['train_bbb', 0.05]] as const) {
    const d = `${name}/replicate_1/main`;
    files[`${d}/hparams.json`] = hparams(lr);
    files[`${d}/done.json`] = JSON.stringify({ iteration: 20, testAccuracy: lr === 0.1 ? 0.8 : 0.75 });
    files[`${d}/metrics.csv`] = 'test_accuracy,0,0.1\ntrain_epoch_loss,10,1.5\ntest_accuracy,10,0.7\ntrain_epoch_loss,20,1.2\ntest_accuracy,20,0.8\n';
  }
  const c = collectResults(filesSource(files));
  const figures = Object.fromEntries(buildFigures(c).map((f) => [f.id, f]));
  const acc = figures.train_test_accuracy!;
  assert.deepEqual(acc.series.map((s) => s.name), ['lr 0.1 r1', 'lr 0.05 r1']);
  assert.deepEqual(acc.series[0]!.x, [0, 10, 20]);
  assert.deepEqual(acc.x.span, [0, 20]);
  assert.deepEqual(figures.train_loss!.series[1]!.y, [1.5, 1.2]);
  const rows = resultRows(c);
  assert.deepEqual(rows.map((r) => [r.kind, r.experiment, r.test_accuracy]), [['train', 'train_aaa', 0.8], ['train', 'train_bbb', 0.75]]);
  const csv = resultsCsv(rows).split('\n');
  assert.equal(csv[0], 'experiment,kind,label,replicate,level,remaining,rewind_iteration,test_accuracy,folder');
  assert.equal(csv[1], 'train_aaa,train,train_aaa,1,,,,0.8,train_aaa/replicate_1/main');
});

test('two lotteries with the same rewind point are told apart by the hyperparameter that differs', () => {
  const files: Record<string, string> = {};
  for (const [name, lr] of [['lottery_aaa', 0.1], ['lottery_bbb', 0.05]] as const) {
    for (const l of [0, 1]) {
      const d = `${name}/replicate_1/level_${l}/main`;
      files[`${d}/hparams.json`] = hparams(lr);
      files[`${d}/done.json`] = JSON.stringify({ iteration: 20, testAccuracy: 0.8 });
      files[`${d}/model_ep0_it5.safetensors`] = '';
      if (l) files[`${d}/sparsity_report.json`] = JSON.stringify({ total: 10, unpruned: 8 });
    }
  }
  const c = collectResults(filesSource(files));
  assert.deepEqual([...trunkLabels(c.lotteries).values()], ['rewind to 5it (lr 0.1)', 'rewind to 5it (lr 0.05)']);
  const rows = resultRows(c).filter((r) => r.experiment === 'lottery_bbb');
  assert.deepEqual(rows.map((r) => [r.kind, r.level, r.remaining, r.rewind_iteration, r.label]),
    [['lottery', 0, 1, 5, 'rewind to 5it (lr 0.05)'], ['lottery', 1, 0.8, 5, 'rewind to 5it (lr 0.05)']]);
});

test('the rewind point comes from lottery.json when the lottery has one', () => {
  const files: Record<string, string> = {
    'lottery_ccc/replicate_1/lottery.json': JSON.stringify({ rewinding_steps: '1ep', rewind_iteration: 47 }),
    'lottery_ccc/replicate_1/level_0/main/done.json': JSON.stringify({ iteration: 100, testAccuracy: 0.8 }),
  };
  assert.deepEqual(collectResults(filesSource(files)).lotteries.map((l) => l.rewindIteration), [47]);
});
