// Step strings with units (OpenLTH's Step): parsing, canonical spelling, conversion to
// iterations at real epoch lengths (CIFAR-10 391/epoch, MNIST 469/epoch at batch 128), comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Step, parseStepParts, canonicalStep, parseStepList, stepToIterations, iterationsPerEpoch, isStepString,
} from '../../src/train/steps.ts';

test('epoch lengths follow OpenLTH: ceil(examples × fraction / batch)', () => {
  assert.equal(iterationsPerEpoch(50000, 128), 391);
  assert.equal(iterationsPerEpoch(60000, 128), 469);
  assert.equal(iterationsPerEpoch(50000, 60), 834);
  assert.equal(iterationsPerEpoch(50000, 128, 0.5), 196); // 25000 / 128 = 195.3
  assert.throws(() => iterationsPerEpoch(50000, 0), /batchSize must be a positive integer, got 0/);
});

test('step strings convert to iterations', () => {
  assert.equal(stepToIterations('160ep', 391), 62560); // CIFAR-10 at batch 128: 391 iterations per epoch, 62,560 in 160 epochs
  assert.equal(stepToIterations('500it', 391), 500);
  assert.equal(stepToIterations('1ep109it', 391), 500);
  assert.equal(stepToIterations('40ep', 469), 18760);
  assert.equal(stepToIterations('0ep', 391), 0);
  assert.equal(stepToIterations('0it', 391), 0);
  assert.equal(stepToIterations('2ep500it', 391), 1282); // extra iterations may exceed an epoch, as in OpenLTH
});

test('steps format back as epochs + iterations, and round-trip', () => {
  assert.equal(Step.fromIteration(500, 391).toString(), '1ep109it');
  assert.equal(Step.fromIteration(62560, 391).toString(), '160ep');
  assert.equal(Step.fromIteration(100, 391).toString(), '100it');
  assert.equal(Step.fromIteration(0, 391).toString(), '0it');
  const s = Step.fromIteration(500, 391);
  assert.deepEqual([s.ep, s.it], [1, 109]);
  for (const it of [0, 1, 390, 391, 392, 4000, 62560]) {
    assert.equal(Step.fromString(Step.fromIteration(it, 391).toString(), 391).iteration, it, `iteration ${it}`);
  }
});

test('canonical spelling: one string per (epochs, iterations) pair', () => {
  assert.equal(canonicalStep('1ep0it'), '1ep');
  assert.equal(canonicalStep('0ep500it'), '500it');
  assert.equal(canonicalStep('0ep'), '0it');
  assert.equal(canonicalStep('0ep0it'), '0it');
  assert.equal(canonicalStep('1ep109it'), '1ep109it');
  assert.deepEqual(parseStepParts('3ep7it'), { ep: 3, it: 7 });
  assert.deepEqual(parseStepList('80ep,120ep'), ['80ep', '120ep']);
  assert.deepEqual(parseStepList('1ep0it, 500it'), ['1ep', '500it']);
});

test('malformed step strings are rejected, naming the value and the expected forms', () => {
  for (const bad of ['5', 'ep', 'it', '1.5ep', '-1it', '3epochs', '', ' 5ep', '01ep', '1it2ep', '1ep2', 'ep5', '1e3it']) {
    assert.equal(isStepString(bad), false, JSON.stringify(bad));
    assert.throws(() => parseStepParts(bad, '--training-steps'), (e: Error) => {
      assert.ok(e.message.includes(`--training-steps: malformed step ${JSON.stringify(bad)}`), e.message);
      assert.match(e.message, /expected <N>ep, <N>it or <N>ep<M>it/);
      return true;
    });
  }
  assert.throws(() => parseStepList('80ep,,120ep', 'milestone_steps'), /milestone_steps\[1\]: malformed step ""/);
  assert.throws(() => parseStepParts('99999999999999999999it'), /too large/);
  // Each part fits but the product does not: the error names the flag (issue 14 item 8).
  assert.throws(() => Step.fromString('99999999999999ep', 469, '--training-steps'),
    /^HparamsError: --training-steps: step "99999999999999ep" is 99999999999999 epochs of 469 iterations, more iterations than can be counted exactly/);
});

test('comparison needs equal epoch lengths', () => {
  const a = Step.fromString('1ep', 391), b = Step.fromString('392it', 391);
  assert.ok(a.lessThan(b));
  assert.ok(!b.lessThan(a));
  assert.ok(a.equals(Step.fromString('391it', 391)));
  assert.ok(a.compare(b) < 0 && b.compare(a) > 0);
  assert.throws(() => a.compare(Step.fromString('1ep', 469)), /cannot compare 1ep \(391 it\/epoch\) with 1ep \(469 it\/epoch\)/);
  assert.throws(() => Step.fromIteration(-1, 391), /iteration must be a non-negative integer, got -1/);
  assert.throws(() => Step.fromIteration(0, 0), /iterationsPerEpoch must be a positive integer, got 0/);
});
