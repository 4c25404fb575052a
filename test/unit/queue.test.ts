// The queue's pure parts: --queue URLs, which failures BullMQ retries, and job ids (the same sweep
// gives the same ids; a changed job gives another; a branch knows its trunk).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQueueUrl } from '../../runner/sweep/queue/connection.ts';
import { failureAction } from '../../runner/sweep/queue/failures.ts';
import { queueEntries } from '../../runner/sweep/queue/jobs.ts';
import { UNREADABLE, jobProblem, sweepOf } from '../../runner/sweep/queue/job-data.ts';
import { DatasetNotFoundError } from '../../runner/data/datasets.ts';
import { UserError, HparamsError } from '../../src/errors.ts';
import { RunStoppedError } from '../../src/train/control.ts';
import { GpuUnavailableError } from '../../src/gpu/errors.ts';
import { DivergenceError } from '../../src/train/run-files.ts';
import type { SweepSpec } from '../../src/lottery/sweep.ts';

test('--queue URLs: host, port, db and credentials; anything else is one line naming the URL', () => {
  assert.deepEqual(parseQueueUrl('redis://10.0.0.5:6380/2'), { url: 'redis://10.0.0.5:6380/2', host: '10.0.0.5', port: 6380, db: 2, username: undefined, password: undefined, tls: false });
  assert.equal(parseQueueUrl('redis://queuehost').port, 6379);
  assert.equal(parseQueueUrl('redis://:s%40cret@h:1/0').password, 's@cret');
  assert.equal(parseQueueUrl('rediss://h:1').tls, true);
  assert.equal(parseQueueUrl('redis://[::1]:7000').host, '::1');
  for (const [bad, why] of [['localhost:6379', /scheme must be redis/], ['redis://h:1/x', /database "x" is not a number/], ['redis://h:99999', /not a URL/], ['nothing', /not a URL/], ['redis://h:1/0?x=1', /options after/]] as const) {
    assert.throws(() => parseQueueUrl(bad), (e: Error) => e instanceof UserError && why.test(e.message) && e.message.includes(`--queue "${bad}"`) && !e.message.includes('\n'));
  }
});

test('failures: input errors fail at once; data missing here is handed back; a lost GPU, a lost lock and bugs are retried; SIGTERM hands back', () => {
  assert.equal(failureAction(new HparamsError('bad flag'), false), 'fail');
  assert.equal(failureAction(new DivergenceError('NaN'), false), 'fail');
  assert.equal(failureAction(new DatasetNotFoundError('no mnist'), false), 'own');
  assert.equal(failureAction(new DatasetNotFoundError('no mnist'), true), 'hand-back');
  assert.equal(failureAction(new GpuUnavailableError('device lost'), false), 'retry-and-exit');
  assert.equal(failureAction(new RunStoppedError('stopped'), true), 'hand-back');
  assert.equal(failureAction(new RunStoppedError('lock lost'), false), 'retry');
  assert.equal(failureAction(new Error('EIO'), false), 'retry');
});

test('job ids: deterministic, content-addressed, valid for BullMQ; dependents name their trunk', () => {
  const spec: SweepSpec = { name: 's', flags: ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist'], levels: '0-1', replicates: [1, 2],
    rewinding_steps: ['0it', '5it'], branches: [{ name: 'randomly_reinitialize', levels: '1' }] };
  const a = queueEntries(spec), b = queueEntries(structuredClone(spec));
  assert.deepEqual(a.map((e) => e.id), b.map((e) => e.id));
  assert.equal(new Set(a.map((e) => e.id)).size, a.length);
  for (const e of a) assert.match(e.id, /^s\.(lottery|branch|instability)\.[0-9a-f]{16}$/);
  // Another replicate list leaves the shared jobs' ids alone.
  const c = queueEntries({ ...spec, replicates: [2, 3] });
  assert.equal(a.filter((e) => c.some((x) => x.id === e.id)).length, a.filter((e) => e.job.replicate === 2).length);
  for (const br of a.filter((e) => e.job.kind === 'branch')) {
    const trunk = a.filter((e) => e.job.kind === 'lottery' && e.data.trunk === br.data.trunk);
    assert.equal(trunk.length, 1);
    assert.equal(trunk[0]!.job.replicate, br.job.replicate);
  }
});

test('job data from Redis is validated: anything but a sweep job is one line saying what is wrong', () => {
  const spec: SweepSpec = { name: 's', flags: ['--default-hparams', 'mnist_lenet_300_100'], levels: '0', replicates: [1], rewinding_steps: ['0it'] };
  const good = queueEntries(spec)[0]!.data;
  assert.equal(jobProblem({ data: good }), null);
  const cases: [unknown, RegExp][] = [
    [null, /^its data is null, not a sweep job$/], [[1], /an array/], ['text', /a string/],
    [{ [UNREADABLE]: 'its data ("garbage{") is not JSON' }, /^its data \("garbage\{"\) is not JSON$/],
    [{ ...good, kind: 'train' }, /kind is "train", not one of lottery, branch, instability/],
    [{ ...good, key: undefined }, /has no "key"/], [{ ...good, spec: null }, /no sweep spec/],
    [{ ...good, spec: { ...spec, name: 'other' } }, /sweep spec is named "other", not "s"/],
  ];
  for (const [data, why] of cases) {
    const p = jobProblem({ data });
    assert.ok(p !== null && why.test(p) && !p.includes('\n'), `${JSON.stringify(data)}: ${p}`);
  }
  assert.equal(sweepOf({ id: 'mysweep.lottery.abc', data: null }), 'mysweep');
  assert.equal(sweepOf({ id: 'x.lottery.abc', data: good }), 's');
});
