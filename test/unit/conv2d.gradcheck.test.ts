// The conv2d backward references against finite differences of the forward reference, on small
// shapes covering 3×3 and 1×1 kernels, stride 1 and 2, padding, odd sizes (where stride 2 leaves
// the last input row and column without gradient), Cin ≠ Cout and the bias.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dShape } from '../../src/kernels/conv2d.ts';
import * as ref from '../../src/ref/conv2d.ts';
import { describeGradCheck, dotLoss, gradCheck, randomF64 } from '../../src/ref/gradcheck.ts';
import { Rng } from '../../src/rng.ts';

const SHAPES: Conv2dShape[] = [
  { n: 2, cin: 3, h: 5, w: 6, cout: 4, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: 1, cin: 2, h: 7, w: 5, cout: 3, kh: 3, kw: 3, stride: 2, pad: 1 },
  { n: 2, cin: 3, h: 6, w: 6, cout: 2, kh: 3, kw: 3, stride: 2, pad: 0 },
  { n: 2, cin: 3, h: 5, w: 7, cout: 5, kh: 1, kw: 1, stride: 2, pad: 0 },
  { n: 1, cin: 2, h: 4, w: 5, cout: 3, kh: 2, kw: 3, stride: 1, pad: 0 },
];

for (const [i, s] of SHAPES.entries()) {
  const label = `${s.n}x${s.cin}x${s.h}x${s.w} -> ${s.cout} k${s.kh}x${s.kw} s${s.stride} p${s.pad}`;
  test(`conv2d backward references match finite differences: ${label}`, () => {
    const rng = new Rng(100 + i);
    const ho = Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1, wo = Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1;
    const x = randomF64(rng, s.n * s.cin * s.h * s.w);
    const w = randomF64(rng, s.cout * s.cin * s.kh * s.kw);
    const b = randomF64(rng, s.cout);
    const dy = randomF64(rng, s.n * s.cout * ho * wo);
    const results = [
      gradCheck('dx', (xx) => dotLoss(dy, ref.conv2dForward(s, xx, w, b)), x, ref.conv2dBackwardInput(s, dy, w)),
      gradCheck('dW', (ww) => dotLoss(dy, ref.conv2dForward(s, x, ww, b)), w, ref.conv2dBackwardWeight(s, x, dy)),
      gradCheck('db', (bb) => dotLoss(dy, ref.conv2dForward(s, x, w, bb)), b, ref.conv2dBackwardBias(s, dy)),
    ];
    assert.ok(results.every((r) => r.ok), results.map(describeGradCheck).join('\n'));
  });
}

test('stride 2 leaves the input rows that no window reaches with exactly zero gradient', () => {
  // 6 rows, 3×3, stride 2, no padding: windows cover rows 0–2 and 2–4; row 5 gets nothing.
  const s: Conv2dShape = { n: 1, cin: 1, h: 6, w: 6, cout: 1, kh: 3, kw: 3, stride: 2, pad: 0 };
  const dx = ref.conv2dBackwardInput(s, new Float64Array(4).fill(1), new Float64Array(9).fill(1));
  for (let j = 0; j < 6; j++) assert.equal(dx[5 * 6 + j], 0);
  assert.equal(dx[2 * 6 + 2], 4); // the centre pixel shared by all four windows
});
