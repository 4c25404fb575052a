// --levels parsing (OpenLTH's two spellings in one string) and the 0.8^L density schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.ts';
import { formatLevels, levelDensity, MAX_LEVEL, parseLevels } from '../../src/lottery/levels.ts';

test('a lone integer N means levels 0..N (OpenLTH lottery --levels)', () => {
  assert.deepEqual(parseLevels('3'), [0, 1, 2, 3]);
  assert.deepEqual(parseLevels('0'), [0]);
  assert.deepEqual(parseLevels(' 2 '), [0, 1, 2]);
});

test('lists and inclusive ranges (OpenLTH branch --levels), sorted', () => {
  assert.deepEqual(parseLevels('0-5,8'), [0, 1, 2, 3, 4, 5, 8]);
  assert.deepEqual(parseLevels('2-2'), [2]);
  assert.deepEqual(parseLevels('9,1-3'), [1, 2, 3, 9]);
  assert.deepEqual(parseLevels('4,2'), [2, 4]);
  assert.deepEqual(parseLevels('1 - 2, 5'), [1, 2, 5]);
});

test('bad level strings are UserErrors that quote the input and say why', () => {
  const cases: [string, RegExp][] = [
    ['5-3', /backwards/],
    ['a', /"a" is not a non-negative integer/],
    ['-1', /negative/],
    ['1,,2', /empty entry/],
    [',1', /empty entry/],
    ['1,', /empty entry/],
    ['1,1', /level 1 appears twice/],
    ['0-3,2-5', /level 2 appears twice/],
    ['', /empty/],
    ['1.5', /not a non-negative integer/],
    ['1-2-3', /not a non-negative integer/],
    ['2-', /"" is not/],
    [String(MAX_LEVEL + 1), /above the maximum/],
  ];
  for (const [s, re] of cases) {
    assert.throws(() => parseLevels(s), (e: Error) => e instanceof UserError && e.message.includes(`"${s}"`) && re.test(e.message), s);
  }
});

test('levelDensity is (1 − f)^L and validates its inputs', () => {
  assert.equal(levelDensity(0, 0.2), 1);
  assert.ok(Math.abs(levelDensity(3, 0.2) - 0.512) < 1e-12);
  assert.ok(Math.abs(levelDensity(10, 0.5) - 1 / 1024) < 1e-15);
  assert.throws(() => levelDensity(-1, 0.2), UserError);
  assert.throws(() => levelDensity(1.5, 0.2), UserError);
  assert.throws(() => levelDensity(2, 1), /1/);
});

test('branches read a lone N as level N only (OpenLTH lottery_branch); lists mean the same either way', () => {
  assert.deepEqual(parseLevels('2', 'only'), [2]);
  assert.deepEqual(parseLevels('2', 'through'), [0, 1, 2]);
  assert.deepEqual(parseLevels('2,5,8', 'only'), [2, 5, 8]);
  assert.deepEqual(parseLevels('0-3', 'only'), [0, 1, 2, 3]);
  assert.throws(() => parseLevels('x', 'only', '--reinit-levels'), /--reinit-levels "x": .*expected N \(level N only\)/);
});

test('formatLevels spells levels out so both meanings of a lone N read them back', () => {
  for (const levels of [[0, 1, 2, 3], [3], [0, 2, 3, 4, 8], [5, 1, 1, 2]]) {
    const text = formatLevels(levels);
    const want = [...new Set(levels)].sort((a, b) => a - b);
    assert.deepEqual(parseLevels(text, 'only'), want, text);
    assert.deepEqual(parseLevels(text, 'through'), want, text);
  }
  assert.equal(formatLevels([0, 2, 3, 4, 8]), '0,2-4,8');
  assert.equal(formatLevels([3]), '3-3');
});
