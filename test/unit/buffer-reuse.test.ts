// The lifetime-based buffer planner (src/gpu/reuse.ts): overlapping lifetimes never share a
// buffer, disjoint ones do, and the buffers are as small as a hand-worked example says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planBuffers, type Lifetime } from '../../src/gpu/reuse.ts';
import { Rng } from '../../src/rng.ts';

function assertNoSharedOverlap(ls: readonly Lifetime[], plan: ReturnType<typeof planBuffers>): void {
  for (let i = 0; i < ls.length; i++) {
    assert.ok(plan.sizes[plan.slot[i]!]! >= ls[i]!.size, `tensor ${i} does not fit its buffer`);
    for (let j = i + 1; j < ls.length; j++) {
      const a = ls[i]!, b = ls[j]!;
      const overlap = a.first <= b.last && b.first <= a.last;
      if (overlap) assert.notEqual(plan.slot[i], plan.slot[j], `tensors ${i} [${a.first}, ${a.last}] and ${j} [${b.first}, ${b.last}] overlap but share buffer ${plan.slot[i]}`);
    }
  }
}

test('a chain of layer gradients (dx_k written at step k, read at k+1) alternates between two buffers; a residual sum keeps dy live', () => {
  // Steps 0..3 of a plain chain: dx0 [0,1], dx1 [1,2], dx2 [2,3], dx3 [3,3] (the last one read in its own step).
  // Then a residual block: its dy = dx3 is also read by the sum at step 6, so it must not share with
  // the body's gradients b1 [4,5] and b2 [5,6].
  const ls: Lifetime[] = [
    { size: 100, first: 0, last: 1 }, { size: 50, first: 1, last: 2 }, { size: 100, first: 2, last: 3 },
    { size: 80, first: 3, last: 6 }, { size: 80, first: 4, last: 5 }, { size: 80, first: 5, last: 6 }, { size: 100, first: 6, last: 7 },
  ];
  const plan = planBuffers(ls);
  assertNoSharedOverlap(ls, plan);
  // dx0 → A(100); dx1 → B(50) (A busy); dx2 reuses A (free after step 1); dx3: A busy, B free
  // but too small and the only candidate → B grown to 80; b1 reuses A (free after step 3);
  // b2: A busy until 5, B until 6 → new C(80); s reuses A (free after step 5).
  assert.deepEqual(plan.slot, [0, 1, 0, 1, 0, 2, 0]);
  assert.deepEqual(plan.sizes, [100, 80, 80]);
  assert.equal(plan.sizes.reduce((a, b) => a + b), 260, 'instead of 590 with one buffer each');
});

test('a step that reads one tensor and writes another (same step index) keeps them apart', () => {
  const ls: Lifetime[] = [{ size: 10, first: 0, last: 3 }, { size: 10, first: 3, last: 4 }, { size: 10, first: 4, last: 4 }];
  const plan = planBuffers(ls);
  assertNoSharedOverlap(ls, plan);
  assert.deepEqual(plan.slot, [0, 1, 0], 'the third reuses the first, which ended at step 3');
});

test('random lifetimes: never shared while overlapping, never more buffers than tensors', () => {
  const rng = new Rng(5);
  for (let trial = 0; trial < 200; trial++) {
    const ls = Array.from({ length: 1 + Math.floor(rng.uniform() * 30) }, () => {
      const first = Math.floor(rng.uniform() * 40);
      return { size: 1 + Math.floor(rng.uniform() * 1000), first, last: first + Math.floor(rng.uniform() * 6) };
    });
    const plan = planBuffers(ls);
    assertNoSharedOverlap(ls, plan);
    assert.ok(plan.sizes.length <= ls.length);
  }
});

test('bad lifetimes are refused', () => {
  assert.throws(() => planBuffers([{ size: 4, first: 3, last: 2 }]), /bad range/);
  assert.throws(() => planBuffers([{ size: 0, first: 0, last: 0 }]), /size 0/);
});
