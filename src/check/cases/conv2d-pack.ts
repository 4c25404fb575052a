// The weight repack of many tensors in one dispatch (src/kernels/conv2d-pack.ts, as a compiled
// model runs it once per step) against the float64 layout reference: weights of several shapes at
// aligned offsets of one "arena" (not starting at its first element), packed into one buffer with
// gaps that must stay untouched, both directions, channel counts that are not multiples of 8, 1×1
// and 3×3 and kh ≠ kw. Then the forward and input-gradient kernels read their weights prepacked
// from that buffer (the path a compiled model takes) and match the convolution reference.
import type { Gpu } from '../../gpu/gpu.ts';
import { runDispatches } from '../../gpu/dispatch.ts';
import { align } from '../../gpu/align.ts';
import { ALIGN_ELEMS, createTensor, download, type Tensor } from '../../gpu/tensor.ts';
import * as k from '../../kernels/conv2d.ts';
import { conv2dPack, conv2dPackedLength, type PackSegment } from '../../kernels/conv2d-pack.ts';
import * as ref from '../../ref/conv2d.ts';
import { conv2dPackedWeights } from '../../ref/conv2d-pack.ts';
import { compare, EXACT, reductionTolerance, type Comparison } from '../compare.ts';
import { type KernelCase, randomArray, Rng } from '../harness.ts';

const SHAPES: { s: k.Conv2dShape; both: boolean }[] = [
  { s: { n: 2, cin: 3, h: 8, w: 8, cout: 16, kh: 3, kw: 3, stride: 1, pad: 1 }, both: false }, // a first layer: forward only
  { s: { n: 2, cin: 16, h: 8, w: 8, cout: 16, kh: 3, kw: 3, stride: 1, pad: 1 }, both: true },
  { s: { n: 2, cin: 16, h: 8, w: 8, cout: 32, kh: 1, kw: 1, stride: 2, pad: 0 }, both: true },  // shortcut
  { s: { n: 1, cin: 5, h: 7, w: 6, cout: 11, kh: 2, kw: 3, stride: 1, pad: 1 }, both: true },   // ragged blocks, kh ≠ kw
  { s: { n: 2, cin: 12, h: 6, w: 6, cout: 3, kh: 3, kw: 3, stride: 2, pad: 1 }, both: true },
];
/** What the packed buffer holds where no segment writes. */
const UNTOUCHED = 7.5;

async function run(gpu: Gpu, variant: 'cpu' | 'gpu'): Promise<Comparison[]> {
  const rng = new Rng(27);
  // Weights at aligned offsets of one buffer, after a lead-in of other values.
  let at = ALIGN_ELEMS;
  const placed = SHAPES.map(({ s, both }) => {
    const w = randomArray(rng, s.cout * s.cin * s.kh * s.kw);
    const p = { s, both, w, offset: at };
    at += align(w.f32.length, ALIGN_ELEMS);
    return p;
  });
  const arena = new Float32Array(at).fill(-3);
  for (const p of placed) arena.set(p.w.f32, p.offset);
  // Segments in the packed buffer, each after an aligned gap.
  const wanted = placed.flatMap((p) => (p.both ? [true, false] : [true]).map((blocksOfCout) => ({ p, blocksOfCout })));
  let out = 0;
  const places = wanted.map((x) => {
    out += ALIGN_ELEMS;
    const o = out;
    out += align(conv2dPackedLength(x.p.s, x.blocksOfCout), ALIGN_ELEMS);
    return o;
  });
  const weights = createTensor(gpu, 'arena', [arena.length], arena);
  const packed = createTensor(gpu, 'packed', [out], new Float32Array(out).fill(UNTOUCHED));
  const made: Tensor[] = [weights, packed];
  try {
    const view = (t: Tensor, offset: number, length: number, name: string): Tensor => ({ name, buffer: t.buffer, offset: t.offset + offset, length, shape: [length] });
    const segments: PackSegment[] = wanted.map((x, i) => ({
      s: x.p.s, blocksOfCout: x.blocksOfCout,
      weight: view(weights, x.p.offset, x.p.w.f32.length, `w${i}`),
      packed: view(packed, places[i]!, conv2dPackedLength(x.p.s, x.blocksOfCout), `packed${i}`),
    }));
    await runDispatches(gpu, [conv2dPack(gpu, segments, k.segmentGroup(gpu, variant), 'packed')]);
    const got = await download(gpu, packed);
    const want = new Float64Array(out).fill(UNTOUCHED);
    wanted.forEach((x, i) => want.set(conv2dPackedWeights(x.p.s, x.p.w.f64, x.blocksOfCout), places[i]!));
    const results = [compare(`conv2d_pack_segments: ${segments.length} segments [${variant} variant]`, got, want, EXACT)];

    // The convolution kernels on the prepacked weights of the ragged shape.
    const i = wanted.findIndex((x) => x.p.s.cin === 5 && x.blocksOfCout);
    const { s, w } = wanted[i]!.p;
    const { ho, wo } = k.conv2dOutputSize(s);
    const x = randomArray(rng, s.n * s.cin * s.h * s.w), dy = randomArray(rng, s.n * s.cout * ho * wo);
    const t = (name: string, data: Float32Array) => { const r = createTensor(gpu, name, [data.length], data); made.push(r); return r; };
    const xt = t('x', x.f32), dyt = t('dy', dy.f32), y = t('y', new Float32Array(dy.f32.length)), dx = t('dx', new Float32Array(x.f32.length));
    const scratch = t('scratch', new Float32Array(k.conv2dScratchLength(s, variant, gpu.tune, true)));
    const partials = t('partials', new Float32Array(Math.max(1, k.conv2dPartialsLength(gpu, s, variant))));
    const wt = segments[i]!.weight;
    const d = [
      ...k.conv2dForward(gpu, s, xt, wt, null, y, scratch, variant, partials, segments[i]!.packed),
      ...k.conv2dBackwardInput(gpu, s, dyt, wt, dx, scratch, variant, partials, segments[i + 1]!.packed),
    ];
    await runDispatches(gpu, d);
    const kk = s.kh * s.kw;
    results.push(
      compare(`conv2d_forward on prepacked weights [${variant} variant]`, await download(gpu, y), ref.conv2dForward(s, x.f64, w.f64, null), reductionTolerance(s.cin * kk)),
      compare(`conv2d_backward_input on prepacked weights [${variant} variant]`, await download(gpu, dx), ref.conv2dBackwardInput(s, dy.f64, w.f64), reductionTolerance(s.cout * kk)),
    );
    return results;
  } finally {
    for (const b of made) b.buffer.destroy();
  }
}

export const conv2dPackCases: KernelCase[] = (['cpu', 'gpu'] as const).map((variant) => ({
  family: 'conv2d', name: `weight repack: many tensors in one dispatch [${variant} variant]`, run: (gpu) => run(gpu, variant),
}));
