// conv2d kernels against the float64 reference: ResNet-20-like shapes at small batch, odd sizes
// (ragged pixel blocks, stride-2 windows that miss the last row), batch 1, Cin ≠ Cout, channel
// counts that are not multiples of the 8-channel block, the 1×1 stride-2 shortcut, bias on and
// off, both kernel sets (their tunings differ) on every adapter, realistic shapes, and small
// batches whose weight gradient is split into several chunks of several images.
import type { AdapterClass, Gpu } from '../../gpu/gpu.ts';
import type { Comparison } from '../compare.ts';
import { ShapeError } from '../../gpu/errors.ts';
import { createTensor } from '../../gpu/tensor.ts';
import * as k from '../../kernels/conv2d.ts';
import * as ref from '../../ref/conv2d.ts';
import { compare, EXACT, reductionTolerance } from '../compare.ts';
import { type KernelCase, randomArray, Rng, runOnGpu, withTune } from '../harness.ts';

/** tune: gpu.tune overrides while the case builds its dispatches (variants the defaults do not pick). */
interface Spec { s: k.Conv2dShape; bias: boolean; variant?: AdapterClass; tune?: Record<string, number> }

function name({ s, bias, variant }: Spec): string {
  return `${s.n}x${s.cin}x${s.h}x${s.w} -> ${s.cout} k${s.kh}x${s.kw} s${s.stride} p${s.pad}${bias ? ' bias' : ''}` +
    (variant ? ` [${variant} variant]` : '');
}

const r3 = (n: number, cin: number, hw: number, cout: number, stride = 1): k.Conv2dShape =>
  ({ n, cin, h: hw, w: hw, cout, kh: 3, kw: 3, stride, pad: 1 });
const r5 = (n: number, cin: number, hw: number, cout: number): k.Conv2dShape =>
  ({ n, cin, h: hw, w: hw, cout, kh: 5, kw: 5, stride: 1, pad: 2 });
const r1 = (n: number, cin: number, hw: number, cout: number): k.Conv2dShape =>
  ({ n, cin, h: hw, w: hw, cout, kh: 1, kw: 1, stride: 2, pad: 0 });

const SHAPES: Omit<Spec, 'variant'>[] = [
  { s: r3(2, 16, 8, 16), bias: false },                          // ResNet-20 block, small
  { s: r3(2, 16, 8, 32, 2), bias: false },                       // stride-2 transition
  { s: r1(2, 16, 8, 32), bias: false },                          // 1×1 stride-2 shortcut
  { s: r1(1, 5, 7, 3), bias: true },                             // shortcut on an odd input: rows/cols without gradient
  { s: r3(1, 3, 9, 16), bias: true },                            // first layer (Cin 3), batch 1, odd size
  { s: r3(3, 5, 7, 11, 2), bias: true },                         // odd everything, stride 2
  { s: { n: 2, cin: 3, h: 6, w: 5, cout: 4, kh: 3, kw: 3, stride: 2, pad: 0 }, bias: false }, // last row unreached
  { s: { n: 1, cin: 2, h: 5, w: 8, cout: 9, kh: 2, kw: 3, stride: 1, pad: 0 }, bias: true },  // general kh ≠ kw
  { s: r3(1, 13, 5, 10), bias: true },
  { s: r3(2, 8, 7, 12, 2), bias: false },
  { s: r3(2, 40, 6, 80), bias: true },                           // several column tiles (gpu: 64 + 16 channels)
  { s: r3(2, 64, 8, 64), bias: false },                          // ResNet-20 stage 3 at batch 2
  { s: r3(8, 16, 32, 16), bias: false },                         // realistic: ResNet-20 stage 1 at batch 8
  { s: r3(5, 1, 256, 3), bias: true },                           // gpu weight gradient: 2 pixels per lane, a ragged last chunk
  // The weight gradient split over images (the 'cpu' set; the 'gpu' set above 9 taps) with several
  // chunks of several images each, so a chunk loop that skips or repeats an image fails here
  // (of the shapes above only batch 8 had chunks of more than one image).
  { s: r3(5, 16, 4, 64), bias: false },                          // cpu: 2 chunks, 3 + 2 images (ragged)
  { s: r3(9, 32, 4, 32), bias: true },                           // cpu: 2 chunks, 5 + 4 images
  { s: r5(10, 64, 4, 64), bias: false },                         // gpu (25 taps): 5 chunks of 2 images
  { s: r5(5, 64, 4, 128), bias: true },                          // gpu (25 taps): 3 chunks, 2 + 2 + 1 images
];

// Every shape with both kernel sets on every adapter: the 'gpu' set's tuning is
// checked on the CPU adapters too (CI has no GPU).
const SPECS: Spec[] = [
  ...SHAPES.flatMap((sh) => (['cpu', 'gpu'] as const).map((variant) => ({ ...sh, variant }))),
  // The 'gpu' set's defaults use column-segment forward / stride-1 input-gradient kernels and pixel
  // pairs in the weight gradient (odd output widths fall back to single pixels, stride 2 input
  // gradients to the row kernel: the shapes above cover both); these run the variants it does not pick.
  ...[r3(2, 16, 8, 16), r3(2, 16, 8, 32, 2), r3(1, 13, 5, 10), r3(8, 16, 32, 16)].map((s) =>
    ({ s, bias: false, variant: 'gpu' as const, tune: { convColumns: 0, convWeightGradPair: 0 } })),
];

function shapeCase(spec: Spec): KernelCase {
  const { s, bias, variant } = spec;
  const c: KernelCase = { family: 'conv2d', name: name(spec), run: (gpu) => runShape(gpu, s, bias, variant) };
  return spec.tune ? withTune(c, spec.tune) : c;
}

async function runShape(gpu: Gpu, s: k.Conv2dShape, bias: boolean, variant?: AdapterClass): Promise<Comparison[]> {
  const rng = new Rng(s.n * 1000 + s.cin * 100 + s.cout + s.h);
  const { ho, wo } = k.conv2dOutputSize(s);
  const xs = [s.n, s.cin, s.h, s.w], ws = [s.cout, s.cin, s.kh, s.kw], ys = [s.n, s.cout, ho, wo];
  const x = randomArray(rng, s.n * s.cin * s.h * s.w);
  const w = randomArray(rng, s.cout * s.cin * s.kh * s.kw);
  const b = randomArray(rng, s.cout);
  const dy = randomArray(rng, s.n * s.cout * ho * wo);
  const v = variant ?? gpu.adapter.class;
  const scratch = k.conv2dScratchLength(s, v, gpu.tune);
  // The 'gpu' set splits the channel reductions of these small layers (few invocations).
  const partials = Math.max(1, k.conv2dPartialsLength(gpu, s, v));
  const out = await runOnGpu(gpu,
    { x: { shape: xs, data: x.f32 }, w: { shape: ws, data: w.f32 }, b: { shape: [s.cout], data: b.f32 }, dy: { shape: ys, data: dy.f32 } },
    { y: ys, dx: xs, dw: ws, db: [s.cout], scratch: [scratch], partials: [partials] },
    (t) => [
      ...k.conv2dForward(gpu, s, t.x!, t.w!, bias ? t.b! : null, t.y!, t.scratch!, v, t.partials!),
      ...k.conv2dBackwardInput(gpu, s, t.dy!, t.w!, t.dx!, t.scratch!, v, t.partials!),
      ...k.conv2dBackwardWeight(gpu, s, t.x!, t.dy!, t.dw!, t.scratch!, v),
      ...k.conv2dBackwardBias(gpu, s, t.dy!, t.db!, t.scratch!, v),
    ]);
  const kk = s.kh * s.kw, pixels = s.n * ho * wo;
  return [
    compare('conv2d_forward', out.y!, ref.conv2dForward(s, x.f64, w.f64, bias ? b.f64 : null), reductionTolerance(s.cin * kk)),
    compare('conv2d_backward_input', out.dx!, ref.conv2dBackwardInput(s, dy.f64, w.f64), reductionTolerance(s.cout * kk)),
    compare('conv2d_backward_weight', out.dw!, ref.conv2dBackwardWeight(s, x.f64, dy.f64), reductionTolerance(pixels)),
    compare('conv2d_backward_bias', out.db!, ref.conv2dBackwardBias(s, dy.f64), reductionTolerance(pixels)),
  ];
}

const BASE = r3(2, 4, 6, 8);

/** Each wrapper must refuse a wrong-sized tensor before creating anything. */
const shapeMismatch: KernelCase = {
  family: 'conv2d', name: 'shape mismatch throws ShapeError',
  async run(gpu) {
    const t = (name: string, n: number) => createTensor(gpu, name, [n]);
    const x = t('x', 2 * 4 * 36), w = t('w', 8 * 4 * 9), y = t('y', 2 * 8 * 36), scratch = t('scratch', 4096);
    const short = t('short', 7), db = t('db', 8);
    const throws = (f: () => unknown): number => { try { f(); return 0; } catch (e) { return e instanceof ShapeError ? 1 : 0; } };
    try {
      const got = [
        throws(() => k.conv2dForward(gpu, BASE, x, short, null, y, scratch)),
        throws(() => k.conv2dForward(gpu, BASE, x, w, short, y, scratch)),
        throws(() => k.conv2dBackwardInput(gpu, BASE, y, w, short, scratch)),
        throws(() => k.conv2dForward(gpu, BASE, x, w, null, y, short)),
        throws(() => k.conv2dBackwardWeight(gpu, BASE, x, y, w, short)),
        throws(() => k.conv2dBackwardBias(gpu, BASE, short, db, scratch)),
        throws(() => k.conv2dForward(gpu, { ...BASE, kh: 9, kw: 9 }, x, w, null, y, scratch)),
      ];
      return [compare('ShapeError thrown', got, got.map(() => 1), EXACT)];
    } finally {
      for (const b of [x, w, y, scratch, short, db]) b.buffer.destroy();
    }
  },
};

/** Same inputs twice ⇒ bitwise-identical weight gradient (fixed-order split reduction). */
const determinism: KernelCase = {
  family: 'conv2d', name: 'backward weight is bitwise deterministic',
  async run(gpu) {
    const s = r3(4, 8, 8, 8);
    const rng = new Rng(5);
    const x = randomArray(rng, s.n * s.cin * 64), dy = randomArray(rng, s.n * s.cout * 64);
    const once = (v: AdapterClass) => runOnGpu(gpu, { x: { shape: [x.f32.length], data: x.f32 }, dy: { shape: [dy.f32.length], data: dy.f32 } },
      { dw: [s.cout * s.cin * 9], scratch: [k.conv2dScratchLength(s, v)] },
      (t) => k.conv2dBackwardWeight(gpu, s, t.x!, t.dy!, t.dw!, t.scratch!, v));
    const out = [];
    for (const v of ['cpu', 'gpu'] as const) out.push(compare(`conv2d_backward_weight rerun [${v} variant]`, (await once(v)).dw!, (await once(v)).dw!, EXACT));
    return out;
  },
};

export const conv2dCases: KernelCase[] = [...SPECS.map(shapeCase), shapeMismatch, determinism];
