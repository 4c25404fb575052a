// Terminal progress (runner/cli/progress.ts) without a terminal: step lines carry elapsed time, an
// ETA from the run's own pace and, in a lottery, "level L/N"; the Ctrl-C note says where the run
// stopped and from which checkpoint the same command resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, interruptMessage, terminalSink } from '../../runner/cli/progress.ts';

function capture(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = { isTTY: false, write: (s: string) => { text += s; return true; } } as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

test('durations read as 45s, 3m05s, 1h02m', () => {
  assert.equal(formatDuration(45), '45s');
  assert.equal(formatDuration(185), '3m05s');
  assert.equal(formatDuration(3720), '1h02m');
});

test('step lines give the level, the elapsed time and an ETA from the pace since the first step, compile and warm-up left out', () => {
  const { stream, lines } = capture();
  let t = 1_000_000;
  const sink = terminalSink({ stream, maxLevel: 5, now: () => t });
  const run = 'lottery_x/replicate_1/level_2';
  const step = (iteration: number) => sink({ type: 'step', run, iteration, totalIterations: 1000, loss: 1, accuracy: 0.5, lr: 0.1, imagesPerSecond: 10 });
  sink({ type: 'start', run, model: 'm', dataset: 'd', adapter: 'a', totalIterations: 1000, startIteration: 200, resumed: true });
  t += 600_000; // 10 minutes compiling and evaluating before the first step line: not step time
  step(201);
  assert.doesNotMatch(lines().at(-1)!, /ETA/, 'no pace yet, so no ETA');
  t += 60_000; // then 100 iterations in 60 s: 699 left take 419.4 s
  step(301);
  const line = lines().find((l) => l.includes('it 301/1000'))!;
  assert.match(line, /level 2\/5 it 301\/1000/);
  assert.match(line, /11m00s elapsed ETA 6m59s/);
  assert.match(lines()[0]!, /level 2\/5 .*resuming at iteration 200/);
});

test('the Ctrl-C note names the run, the iteration and the checkpoint to resume from', () => {
  assert.equal(interruptMessage(null), 'interrupted before training started; nothing to resume.');
  assert.match(interruptMessage({ run: 'r', iteration: 57, total: 300, checkpoint: 50 }),
    /^interrupted: r at iteration 57 of 300; its last checkpoint is at iteration 50\. Run the same command again to resume/);
  assert.match(interruptMessage({ run: 'r', iteration: 7, total: 300, checkpoint: null }), /no checkpoint of it yet .* restarts from its beginning/);
});
