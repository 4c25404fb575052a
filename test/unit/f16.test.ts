// The binary16 reference (src/ref/f16.ts) that every mixed-precision check rests on, against the
// format's definition over all 65,536 bit patterns: each value rounds to itself; the midpoint of two
// neighbours rounds to the one with an even significand, anything off the midpoint to the nearer;
// past 65520 to inf; packed pairs keep element 2j in the low half.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { F16_MAX, halfBits, halfValue, packHalves, roundHalf } from '../../src/ref/f16.ts';

/** The finite non-negative f16 values in increasing order (bits 0x0000..0x7bff). */
const ladder = Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));

test('every f16 value rounds to itself and back to its bits; the value ladder is increasing', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = halfValue(h);
    if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff)) { assert.ok(Number.isNaN(v)); continue; }
    assert.ok(Object.is(roundHalf(v), v), `roundHalf(${v}) (bits ${h.toString(16)})`);
    assert.equal(halfBits(v), h, `halfBits(${v})`);
  }
  for (let i = 1; i < ladder.length; i++) assert.ok(ladder[i]! > ladder[i - 1]!);
  assert.equal(ladder.at(-1), F16_MAX);
  assert.equal(halfValue(1), 2 ** -24);
  assert.equal(halfValue(0x3c00), 1);
});

test('midpoints round to the even neighbour, anything off them to the nearer one, both signs', () => {
  for (let i = 0; i + 1 < ladder.length; i++) {
    const a = ladder[i]!, b = ladder[i + 1]!, mid = (a + b) / 2, even = i % 2 === 0 ? a : b;
    const eps = (b - a) / 64; // exact in float64: the spacing is a power of two
    assert.equal(roundHalf(mid), even, `tie between ${a} and ${b}`);
    assert.equal(roundHalf(-mid), -even);
    assert.equal(roundHalf(mid - eps), a);
    assert.equal(roundHalf(mid + eps), b);
  }
});

test('overflow, zeros, NaN and the smallest subnormal', () => {
  assert.equal(roundHalf(65519.99), F16_MAX);
  assert.equal(roundHalf(65520), Infinity, 'the midpoint of 65504 and 65536 is a tie; 65504 is odd, so it rounds up: inf');
  assert.equal(roundHalf(-1e9), -Infinity);
  assert.equal(halfBits(Infinity), 0x7c00);
  assert.equal(halfBits(-Infinity), 0xfc00);
  assert.ok(Object.is(roundHalf(-1e-30), -0));
  assert.equal(halfBits(-0), 0x8000);
  assert.equal(roundHalf(2 ** -25), 0, 'half the smallest subnormal: a tie, to the even 0');
  assert.equal(roundHalf(2 ** -25 * 1.0000001), 2 ** -24);
  assert.equal(roundHalf(3 * 2 ** -25), 2 * 2 ** -24, 'a subnormal tie goes to the even 2·2^-24');
  assert.ok(Number.isNaN(roundHalf(NaN)));
  assert.equal(halfBits(NaN) & 0x7fff, 0x7e00);
});

test('packed pairs: element 2j in the low half of word j, an odd last element paired with +0', () => {
  assert.deepEqual([...packHalves([1, -2, 0.5])], [0x3c00 | (0xc000 << 16), 0x3800].map((w) => w >>> 0));
  assert.deepEqual([...packHalves([])], []);
});
