// Pause and stop of a lottery run (src/train/control.ts, used by the browser tab), in Node on
// lavapipe: a paused run waits and then finishes bitwise-identical to an uninterrupted one; a
// stopped run leaves its folder as a killed CLI run would (checkpoint, no done.json) and running
// the same job again on that storage resumes from the checkpoint to the same final weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import { loadDataset } from '../../runner/data/datasets.ts';
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { levelDir, planLottery, runLottery, type LotteryJob } from '../../src/lottery/lottery.ts';
import { RunControl, RunStoppedError } from '../../src/train/control.ts';
import type { TrainEvent } from '../../src/train/events.ts';
import { MemoryStorage } from '../../viewer/memory-storage.ts';

const ARGV = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.01',
  '--training-steps', '4ep', '--rewinding-steps', '5it'];

test('pause waits and stop resumes from the last checkpoint to the same weights', { timeout: 300_000 }, async () => {
  const data = await loadDataset('fashion_mnist');
  const gpu = await openGpu('llvmpipe');
  console.log(`# adapter: ${gpu.adapter.description} (${gpu.adapter.shortName})`);
  try {
    const { hparams, lottery } = parseLotteryArgv(ARGV);
    const job = (control?: RunControl): LotteryJob => ({ hparams, lottery, replicate: 1, maxLevel: 2, evaluateOnlyAtEnd: true, control });
    const plan = planLottery(job(), data);

    // Reference: paused for 300 ms at level 0's first epoch end, then resumed.
    const paused = new RunControl();
    let pausedFor = 0;
    const reference = await runLottery({ gpu, storage: new MemoryStorage(), data, sink: (e) => {
      if (e.type !== 'checkpoint' || pausedFor) return;
      paused.pause();
      const t0 = Date.now();
      setTimeout(() => { pausedFor = Date.now() - t0; paused.resume(); }, 300);
    } }, job(paused));
    assert.ok(pausedFor >= 300, 'the pause never happened');

    // Stopped at level 1's first epoch end (5 iterations per epoch: iteration 10 of 20; it starts at k = 5).
    const storage = new MemoryStorage();
    const stop = new RunControl();
    const events: TrainEvent[] = [];
    await assert.rejects(runLottery({ gpu, storage, data, sink: (e) => {
      events.push(e);
      if (e.type === 'checkpoint' && e.run.endsWith('level_1')) stop.stop();
    } }, job(stop)), RunStoppedError);
    const level1 = levelDir(plan, 1);
    assert.ok(await storage.exists(`${level1}/checkpoint.safetensors`), 'no checkpoint before the stop');
    assert.equal(await storage.exists(`${level1}/done.json`), false, 'a stopped level must not look finished');
    assert.equal(events.some((e) => e.run.endsWith('level_2')), false, 'the next level started after the stop');

    const resumedEvents: TrainEvent[] = [];
    const resumed = await runLottery({ gpu, storage, data, sink: (e) => resumedEvents.push(e) }, job(new RunControl()));
    const start1 = resumedEvents.find((e) => e.type === 'start' && e.run.endsWith('level_1'));
    assert.deepEqual(start1 && start1.type === 'start' && [start1.resumed, start1.startIteration], [true, 10]);
    assert.ok(resumedEvents.some((e) => e.type === 'done' && e.run.endsWith('level_0') && e.skipped), 'level 0 should be skipped');

    const hashes = (r: typeof reference) => r.map((l) => `${l.level}:${l.weightsHash}`);
    console.log(`# final weights: ${hashes(reference).join(' ')}`);
    assert.deepEqual(hashes(resumed), hashes(reference));
  } finally {
    gpu.destroy();
  }
});
