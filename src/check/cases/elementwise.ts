import * as k from '../../kernels/elementwise.ts';
import * as ref from '../../ref/elementwise.ts';
import { compare, EXACT } from '../compare.ts';
import { type KernelCase, randomArray, Rng, runOnGpu } from '../harness.ts';

// 1 and 257 are off the workgroup size; 70,000 × 256 needs the folded 2-D grid (> 65,535 groups).
const SIZES = [1, 257, 4099, 70_000 * 256];

const gatherCase: KernelCase = {
  family: 'elementwise', name: 'gather 37 chosen elements of n=100,003 (first, last, repeats)',
  async run(gpu) {
    const n = 100_003, rng = new Rng(5);
    const src = randomArray(rng, n);
    const idx = [0, n - 1, 5, 5, ...Array.from({ length: 33 }, () => rng.int(n))];
    const out = await runOnGpu(gpu, { src: { shape: [n], data: src.f32 }, idx: { shape: [idx.length], data: k.indexTensorData(idx, n) } },
      { y: [idx.length] }, (t) => [k.gather(gpu, t.src!, t.idx!, t.y!)]);
    return [compare('gather_forward', out.y!, ref.gather(src.f32, idx), EXACT)];
  },
};

export const elementwiseCases: KernelCase[] = [gatherCase, ...SIZES.flatMap((n): KernelCase[] => [
  {
    family: 'elementwise', name: `relu forward+backward n=${n}`,
    async run(gpu) {
      const rng = new Rng(n);
      const x = randomArray(rng, n), dy = randomArray(rng, n);
      if (n > 2) x.f32[1] = 0; // the kink: subgradient 0
      x.f64[1] = x.f32[1]!;
      const out = await runOnGpu(gpu, { x: { shape: [n], data: x.f32 }, dy: { shape: [n], data: dy.f32 } }, { y: [n], dx: [n] },
        (t) => [k.reluForward(gpu, t.x!, t.y!), k.reluBackward(gpu, t.x!, t.dy!, t.dx!)]);
      return [
        compare('relu_forward', out.y!, ref.reluForward(x.f64), EXACT),
        compare('relu_backward', out.dx!, ref.reluBackward(x.f64, dy.f64), EXACT),
      ];
    },
  },
  {
    family: 'elementwise', name: `add n=${n}`,
    async run(gpu) {
      const rng = new Rng(n + 1);
      const a = randomArray(rng, n), b = randomArray(rng, n);
      const out = await runOnGpu(gpu, { a: { shape: [n], data: a.f32 }, b: { shape: [n], data: b.f32 } }, { y: [n], yr: [n] },
        (t) => [k.add(gpu, t.a!, t.b!, t.y!), k.addRelu(gpu, t.a!, t.b!, t.yr!)]);
      // One float32 rounding of an exact float64 sum.
      const sum = Float32Array.from(ref.add(a.f64, b.f64));
      return [compare('add_forward', out.y!, sum, EXACT), compare('add_relu_forward', out.yr!, ref.reluForward(Float64Array.from(sum)), EXACT)];
    },
  },
])];
