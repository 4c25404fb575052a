// 2-D convolution (PyTorch nn.Conv2d conventions, NCHW, weight [Cout, Cin, kh, kw]): forward,
// the gradients of input, weight and bias, one shader file per direction (shaders/conv2d_*.wgsl,
// the common part in conv2d_common.wgsl). Every call uses a caller-owned scratch tensor
// (conv2dScratchLength elements): forward and input gradient first repack the weights into it
// (8 channels per tap as two aligned vec4, conv2d-pack.ts), unless the caller passes them repacked
// (a compiled model repacks all its convolutions in one dispatch); the weight and bias gradients, long
// reductions over N·Ho·Wo terms into few outputs, write fixed-size partial sums into it and a
// second dispatch (conv2d_split_sum.wgsl) adds them in order (deterministic, no atomics).
// Both kernel sets use these kernels with different tuning (TUNING below), except the 'gpu' set's
// weight gradient for up to 3×3 taps (conv2d_backward_weight_pixels: lanes over pixels,
// coalesced). An implicit-GEMM variant with workgroup-memory tiles was tried for the 'gpu' set and lost on an H200
// (forward 4.0 vs 6.7 TFLOP/s, weight gradient 5.0 vs 2.4 ms per ResNet-20 step; docs/performance.md,
// "On a GPU"): removed.
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import { type Dispatch, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform, type Uniform } from '../gpu/uniforms.ts';
import { CONV2D_PARAMS } from './conv2d-params.ts';
import { CB, conv2dPack, conv2dPackedLength } from './conv2d-pack.ts';

/** The shader file of each kernel; every one reads the uniform CONV2D_PARAMS lays out (conv2d-params.ts). */
const SHADERS = {
  forward: 'conv2d_forward.wgsl', input: 'conv2d_backward_input.wgsl', weight: 'conv2d_backward_weight.wgsl',
  bias: 'conv2d_backward_bias.wgsl', sum: 'conv2d_split_sum.wgsl',
} as const;
/** Lanes of the pixel weight-gradient kernel, taps it holds, and the workgroups it aims for. */
const WGRAD_LANES = 256;
const WGRAD_MAX_TAPS = 9;
// gpu.tune.convWeightGradGroups. H200, pixel pairs on: 256 → 1.42 ms per ResNet-20 step, 128 → 1.41,
// 512 → 1.80 (single pixels: 256 → 1.76, 512 → 2.08, 1024 → 2.98).
const WGRAD_TARGET_GROUPS = 256;
/**
 * 'gpu' set: the forward and input-gradient kernels split their channel reduction (at least 8
 * channels per split) until a layer has this many invocations; an H200 holds ~270K in flight and
 * ResNet-20's 8×8 stage has only 8K without splits. Tunable as gpu.tune.convSplitThreads (0: off);
 * gpu.tune.convWeightGradPixels = 0 selects the k-lane weight gradient instead of the pixel one;
 * gpu.tune.convWg sets the forward / input-gradient workgroup size of the 'gpu' set.
 */
const SPLIT_THREADS = 32768; // H200: 32768 beat 0, 65536, 131072 and 262144
/**
 * 'gpu' set: the forward and (stride-1) input-gradient kernels with column segments (lanes along
 * the row, coalesced loads; conv2d_segments.wgsl). gpu.tune.convColumns = 0 / 1 overrides. H200, ResNet-20
 * step: forward 1.21 → 0.77 ms, input gradient 1.23 → 0.91 ms.
 */
const COLUMNS = 1;
/** The pixel weight gradient's pixel pairs (gpu.tune.convWeightGradPair = 0 / 1): H200 1.76 → 1.42 ms at 256 workgroups. */
const WGRAD_PAIRS = 1;

function usesColumns(gpu: Gpu, variant: AdapterClass): boolean {
  return variant === 'gpu' && (gpu.tune.convColumns ?? COLUMNS) !== 0;
}

/** Invocations of the column kernels: one per SEGMENT consecutive pixels of a column. */
function columnSegments(n: number, rows: number, cols: number): number {
  return n * Math.ceil(rows / SEGMENT) * cols;
}
const SPLIT_MIN_CHANNELS = 8;

interface ReductionSplit { splits: number; chunk: number }

/** Workgroup size of the forward / input-gradient kernels (and their weight repacks). */
export function segmentGroup(gpu: Gpu, variant: AdapterClass): number {
  return variant === 'gpu' ? gpu.tune.convWg ?? TUNING.gpu.wg : TUNING.cpu.wg;
}

/** Channel splits of the forward (reducing Cin) or input-gradient (reducing Cout) kernel. */
function reductionSplit(gpu: Gpu, s: Conv2dShape, variant: AdapterClass, direction: 'forward' | 'input'): ReductionSplit {
  const reduced = direction === 'forward' ? s.cin : s.cout;
  const target = gpu.tune.convSplitThreads ?? SPLIT_THREADS;
  if (variant !== 'gpu' || target <= 0) return { splits: 1, chunk: reduced };
  const { ho, wo } = conv2dOutputSize(s);
  const threads = direction === 'forward' ? segments(s.n, ho, wo) * Math.ceil(s.cout / CB)
    : segments(s.n, Math.ceil(s.h / s.stride), Math.ceil(s.w / s.stride)) * s.stride * s.stride * Math.ceil(s.cin / CB);
  const chunk = Math.max(SPLIT_MIN_CHANNELS, Math.ceil(reduced / Math.max(1, Math.ceil(target / threads))));
  return { splits: Math.ceil(reduced / chunk), chunk };
}

/**
 * Elements of the second scratch the 'gpu' set's split forward / input-gradient kernels write
 * their partial outputs to (0 when no split happens). Like conv2dScratchLength, one tensor of the
 * largest such length serves every convolution of a model.
 */
export function conv2dPartialsLength(gpu: Gpu, s: Conv2dShape, variant = gpu.kernels): number {
  const { ho, wo } = conv2dOutputSize(s);
  const f = reductionSplit(gpu, s, variant, 'forward'), i = reductionSplit(gpu, s, variant, 'input');
  return Math.max(f.splits > 1 ? f.splits * s.n * s.cout * ho * wo : 0, i.splits > 1 ? i.splits * s.n * s.cin * s.h * s.w : 0);
}

/** The split plan for this call: one split unless partials are given and the plan wants several. */
function splitFor(gpu: Gpu, s: Conv2dShape, variant: AdapterClass, direction: 'forward' | 'input', partials: Tensor | undefined, op: string): ReductionSplit {
  const plan = reductionSplit(gpu, s, variant, direction);
  if (!partials || plan.splits === 1) return { splits: 1, chunk: direction === 'forward' ? s.cin : s.cout };
  const need = conv2dPartialsLength(gpu, s, variant);
  assertShape(partials.length >= need, `${op}: partials ${partials.name} has ${partials.length} elements, needs at least ${need}`);
  return plan;
}
/** Pixels per invocation along a row in the forward / input-gradient kernels. */
const SEGMENT = 8;
const MAX_GROUPS = 65535;


/** Floating-point operations of one direction (forward, input or weight gradient): 2·N·Ho·Wo·Cout·Cin·kh·kw. */
export function conv2dFlops(s: Conv2dShape): number {
  const { ho, wo } = conv2dOutputSize(s);
  return 2 * s.n * ho * wo * s.cout * s.cin * s.kh * s.kw;
}

export interface Conv2dShape {
  n: number; cin: number; h: number; w: number;
  cout: number; kh: number; kw: number; stride: number; pad: number;
}

/**
 * Tunables per adapter class. lavapipe runs a workgroup on one CPU thread, so a few dozen
 * workgroups keep its 2 threads busy and smaller groups waste fewer lanes on ragged edges; a
 * real GPU needs thousands of invocations in flight.
 */
interface Tuning { wg: number; splitGroups: number }
const TUNING: Record<AdapterClass, Tuning> = {
  cpu: { wg: 32, splitGroups: 32 },
  // wg 128: H200 with column kernels, the split sums 0.60 → 0.50 ms per ResNet-20 step (32: 0.79).
  gpu: { wg: 128, splitGroups: 1024 },
};

export function conv2dOutputSize(s: Conv2dShape): { ho: number; wo: number } {
  return { ho: Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1, wo: Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1 };
}

function checkShape(op: string, s: Conv2dShape): { ho: number; wo: number } {
  for (const [k, v] of Object.entries(s)) {
    const min = k === 'pad' ? 0 : 1;
    assertShape(Number.isInteger(v) && v >= min, `${op}: shape.${k} = ${v} must be an integer >= ${min}`);
  }
  const o = conv2dOutputSize(s);
  assertShape(o.ho >= 1 && o.wo >= 1,
    `${op}: ${s.kh}x${s.kw} kernel with pad ${s.pad} does not fit the ${s.h}x${s.w} input (output ${o.ho}x${o.wo})`);
  return o;
}

function checkLength(op: string, t: Tensor, what: string, dims: number[]): void {
  const n = dims.reduce((a, b) => a * b, 1);
  assertShape(t.length === n, `${op}: ${what} ${t.name} has ${t.length} elements, expected ${n} = [${dims.join(', ')}]`);
}

function uniform(gpu: Gpu, entry: string, s: Conv2dShape, extra: { chunk?: number; count?: number } = {}): Uniform {
  const { ho, wo } = conv2dOutputSize(s);
  return createUniform(gpu, `${entry}-params`, CONV2D_PARAMS, {
    n: s.n, cin: s.cin, h: s.h, w: s.w, cout: s.cout, ho, wo, kh: s.kh, kw: s.kw, stride: s.stride, pad: s.pad,
    chunk: extra.chunk ?? 0, count: extra.count ?? 0,
  });
}

/** Invocations of the forward / input-gradient kernels: one per SEGMENT consecutive pixels of a row. */
function segments(n: number, rows: number, cols: number): number {
  return n * rows * Math.ceil(cols / SEGMENT);
}

/** `blocks` workgroups folded over x and y (the shader's block_index), `z` as given. */
function grid(blocks: number, z: number): [number, number, number] {
  const y = Math.ceil(Math.max(blocks, 1) / MAX_GROUPS);
  assertShape(z <= MAX_GROUPS, `conv2d: ${z} workgroups along z exceed ${MAX_GROUPS}`);
  return [Math.ceil(Math.max(blocks, 1) / y), y, z];
}

/**
 * The weights as the forward (blocks of output channels) or input-gradient kernel reads them: the
 * caller's prepacked tensor (conv2d-pack.ts), or a view of scratch with the dispatch that fills it.
 */
function packedWeights(gpu: Gpu, op: string, s: Conv2dShape, weight: Tensor, scratch: Tensor, blocksOfCout: boolean, wg: number,
  prepacked: Tensor | undefined): [Dispatch[], Tensor] {
  const length = conv2dPackedLength(s, blocksOfCout);
  if (prepacked) {
    assertShape(prepacked.length === length, `${op}: packed weights ${prepacked.name} have ${prepacked.length} elements, expected ${length}`);
    return [[], prepacked];
  }
  const packed = { ...scratch, length };
  return [[conv2dPack(gpu, [{ s, weight, packed, blocksOfCout }], wg, weight.name)], packed];
}

function checkScratch(gpu: Gpu, op: string, s: Conv2dShape, scratch: Tensor, variant: AdapterClass, prepacked = false): void {
  const need = conv2dScratchLength(s, variant, gpu.tune, prepacked);
  assertShape(scratch.length >= need, `${op}: scratch ${scratch.name} has ${scratch.length} elements, needs at least ${need}`);
}

/**
 * y = conv(x, weight) + bias. x [N, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout] or null,
 * y [N, Cout, Ho, Wo]; scratch: conv2dScratchLength elements (holds the repacked weights);
 * partials (optional, conv2dPartialsLength elements, another buffer than scratch): lets the 'gpu'
 * set split the Cin reduction and add the splits' partial outputs in order. packed (optional):
 * the weights already repacked with blocks of output channels (conv2d-pack.ts, conv2dPackedLength
 * elements, written before these dispatches run); then no repack dispatch is made and scratch
 * needs only conv2dScratchLength(…, prepacked) elements.
 */
export function conv2dForward(
  gpu: Gpu, s: Conv2dShape, x: Tensor, weight: Tensor, bias: Tensor | null, y: Tensor, scratch: Tensor,
  variant = gpu.kernels, partials?: Tensor, prepacked?: Tensor,
): Dispatch[] {
  const op = 'conv2d_forward';
  const { ho, wo } = checkShape(op, s);
  checkLength(op, x, 'input', [s.n, s.cin, s.h, s.w]);
  checkLength(op, weight, 'weight', [s.cout, s.cin, s.kh, s.kw]);
  if (bias) checkLength(op, bias, 'bias', [s.cout]);
  checkLength(op, y, 'output', [s.n, s.cout, ho, wo]);
  checkScratch(gpu, op, s, scratch, variant, !!prepacked);
  const wg = segmentGroup(gpu, variant);
  const [pack, packed] = packedWeights(gpu, op, s, weight, scratch, true, wg, prepacked);
  const split = splitFor(gpu, s, variant, 'forward', partials, op);
  const target = split.splits > 1 ? { ...partials!, length: split.splits * y.length } : y;
  const columns = usesColumns(gpu, variant);
  const d = [...pack, makeDispatch(gpu, {
    shader: SHADERS.forward, entry: columns ? 'conv2d_forward_columns' : op, constants: { WG: wg, HAS_BIAS: bias ? 1 : 0, KH: s.kh, KW: s.kw, S: s.stride },
    label: `${op}(${y.name})`, flops: conv2dFlops(s),
    // Without a bias the binding still exists in the layout; the input stands in, unread.
    bindings: [{ read: x }, { write: target }, { uniform: uniform(gpu, op, s, { chunk: split.chunk, count: y.length }) }, { read: packed }, { read: bias ?? x }],
    workgroups: grid(Math.ceil((columns ? columnSegments(s.n, ho, wo) : segments(s.n, ho, wo)) / wg), split.splits * Math.ceil(s.cout / CB)),
  })];
  if (split.splits > 1) d.push(sumPartials(gpu, y.name, target, y, s, split.splits, wg));
  return d;
}

/**
 * dx = ∂L/∂x from dy [N, Cout, Ho, Wo] and weight; dx [N, Cin, H, W] is overwritten. scratch:
 * conv2dScratchLength elements; partials: as for conv2dForward (splits of the Cout reduction);
 * packed: as for conv2dForward, with blocks of input channels.
 */
export function conv2dBackwardInput(
  gpu: Gpu, s: Conv2dShape, dy: Tensor, weight: Tensor, dx: Tensor, scratch: Tensor, variant = gpu.kernels, partials?: Tensor,
  prepacked?: Tensor,
): Dispatch[] {
  const op = 'conv2d_backward_input';
  const { ho, wo } = checkShape(op, s);
  checkLength(op, dy, 'output gradient', [s.n, s.cout, ho, wo]);
  checkLength(op, weight, 'weight', [s.cout, s.cin, s.kh, s.kw]);
  checkLength(op, dx, 'input gradient', [s.n, s.cin, s.h, s.w]);
  checkScratch(gpu, op, s, scratch, variant, !!prepacked);
  const wg = segmentGroup(gpu, variant);
  const [pack, packed] = packedWeights(gpu, op, s, weight, scratch, false, wg, prepacked);
  // The largest of the stride² pixel classes (see the shader) sets the segment-block count.
  const classSegments = segments(s.n, Math.ceil(s.h / s.stride), Math.ceil(s.w / s.stride));
  const split = splitFor(gpu, s, variant, 'input', partials, op);
  const target = split.splits > 1 ? { ...partials!, length: split.splits * dx.length } : dx;
  // Column segments for stride 1 (one pixel class); the row kernel handles stride 2's classes.
  const columns = usesColumns(gpu, variant) && s.stride === 1;
  const d = [...pack, makeDispatch(gpu, {
    shader: SHADERS.input, entry: columns ? 'conv2d_backward_input_columns' : op, constants: { WG: wg, KH: s.kh, KW: s.kw, S: s.stride },
    label: `${op}(${dx.name})`, flops: conv2dFlops(s),
    bindings: [{ read: dy }, { write: target }, { uniform: uniform(gpu, op, s, { chunk: split.chunk, count: dx.length }) }, { read: packed }],
    workgroups: columns
      ? grid(Math.ceil(columnSegments(s.n, s.h, s.w) / wg), split.splits * Math.ceil(s.cin / CB))
      : grid(Math.ceil(classSegments / wg), split.splits * s.stride * s.stride * Math.ceil(s.cin / CB)),
  })];
  if (split.splits > 1) d.push(sumPartials(gpu, dx.name, target, dx, s, split.splits, wg));
  return d;
}

/**
 * Lanes of the weight-gradient kernel run over k = (ci, ky, kx), two k per lane: pick the
 * workgroup size (a multiple of the 8-lane SIMD width) that leaves the fewest idle lanes, then
 * the larger one.
 */
function weightGroupSize(k: number, max: number): number {
  let best = 8;
  for (let wg = 8; wg <= max; wg += 8) {
    const waste = Math.ceil(k / (2 * wg)) * 2 * wg - k;
    const bestWaste = Math.ceil(k / (2 * best)) * 2 * best - k;
    if (waste <= bestWaste) best = wg;
  }
  return best;
}

function weightPlan(s: Conv2dShape, variant: AdapterClass): { wg: number; kBlocks: number; splits: number; chunk: number } {
  const k = s.cin * s.kh * s.kw;
  const t = TUNING[variant];
  const wg = weightGroupSize(k, t.wg);
  const kBlocks = Math.ceil(k / (2 * wg));
  const perSplit = kBlocks * Math.ceil(s.cout / CB);
  const chunk = Math.ceil(s.n / Math.min(s.n, Math.max(1, Math.ceil(t.splitGroups / perSplit))));
  return { wg, kBlocks, splits: Math.ceil(s.n / chunk), chunk };
}

/**
 * Elements of scratch the conv2d kernels of this shape need (repacked weights, split-reduction
 * partials). Each call's dispatches use it only between their own first and last dispatch, so one
 * tensor of the largest such length can serve every convolution of a model. `prepacked`: the
 * forward and input-gradient calls get their weights repacked elsewhere (no room for them here).
 */
export function conv2dScratchLength(s: Conv2dShape, variant: AdapterClass, tune: Gpu['tune'] = {}, prepacked = false): number {
  checkShape('conv2dScratchLength', s);
  // Room for either 'gpu' weight gradient (gpu.tune can pick the other one).
  const pixels = variant === 'gpu' && s.kh * s.kw <= WGRAD_MAX_TAPS ? pixelWeightPlan(s, tune).splits : 0;
  const splits = Math.max(pixels, weightPlan(s, variant).splits);
  const packed = prepacked ? 0 : Math.max(conv2dPackedLength(s, true), conv2dPackedLength(s, false));
  return Math.max(packed, splits * s.cout * s.cin * s.kh * s.kw, s.n * s.cout);
}

function usesPixelWeightGrad(s: Conv2dShape, variant: AdapterClass, tune: Gpu['tune']): boolean {
  return variant === 'gpu' && s.kh * s.kw <= WGRAD_MAX_TAPS && tune.convWeightGradPixels !== 0;
}

/** Whether the pixel weight gradient steps over pairs of adjacent output pixels (gpu.tune.convWeightGradPair). */
function pixelPairs(s: Conv2dShape, tune: Gpu['tune']): boolean {
  return (tune.convWeightGradPair ?? WGRAD_PAIRS) !== 0 && conv2dOutputSize(s).wo % 2 === 0 && s.kw <= 3 && s.stride <= 2;
}

/**
 * Chunks of output pixels (or pixel pairs) for the pixel weight-gradient kernel: whole multiples of
 * its 256 lanes, 1 to 64 per lane, about WGRAD_TARGET_GROUPS workgroups over (chunk, ci, output-channel block).
 */
function pixelWeightPlan(s: Conv2dShape, tune: Gpu['tune']): { chunk: number; splits: number } {
  const { ho, wo } = conv2dOutputSize(s);
  const pixels = s.n * ho * wo / (pixelPairs(s, tune) ? 2 : 1);
  const wanted = Math.max(1, Math.ceil((tune.convWeightGradGroups ?? WGRAD_TARGET_GROUPS) / (s.cin * Math.ceil(s.cout / CB))));
  const lanes = Math.min(64, Math.max(1, Math.ceil(pixels / wanted / WGRAD_LANES)));
  const chunk = lanes * WGRAD_LANES;
  return { chunk, splits: Math.ceil(pixels / chunk) };
}

/** The split sum: result[i] = Σ_{z < parts} scratch[z·count + i]. */
function sumPartials(gpu: Gpu, label: string, scratch: Tensor, result: Tensor, s: Conv2dShape, parts: number, wg: number): Dispatch {
  const entry = 'conv2d_split_sum';
  const count = result.length;
  return makeDispatch(gpu, {
    shader: SHADERS.sum, entry, constants: { WG: wg }, label: `${entry}(${label})`,
    bindings: [{ read: scratch }, { write: result }, { uniform: uniform(gpu, entry, s, { chunk: parts, count }) }],
    workgroups: grid(Math.ceil(count / wg), 1),
  });
}

/** dW = ∂L/∂weight from x and dy; dW [Cout, Cin, kh, kw] is overwritten. scratch: conv2dScratchLength elements. */
export function conv2dBackwardWeight(
  gpu: Gpu, s: Conv2dShape, x: Tensor, dy: Tensor, dW: Tensor, scratch: Tensor, variant = gpu.kernels,
): Dispatch[] {
  const op = 'conv2d_backward_weight';
  const { ho, wo } = checkShape(op, s);
  checkLength(op, x, 'input', [s.n, s.cin, s.h, s.w]);
  checkLength(op, dy, 'output gradient', [s.n, s.cout, ho, wo]);
  checkLength(op, dW, 'weight gradient', [s.cout, s.cin, s.kh, s.kw]);
  checkScratch(gpu, op, s, scratch, variant);
  if (usesPixelWeightGrad(s, variant, gpu.tune)) {
    const entry = 'conv2d_backward_weight_pixels', plan = pixelWeightPlan(s, gpu.tune);
    const partials = { ...scratch, length: plan.splits * dW.length };
    assertShape(plan.splits <= MAX_GROUPS && s.cin <= MAX_GROUPS, `${op}: ${plan.splits} pixel chunks × ${s.cin} input channels exceed the grid`);
    return [
      makeDispatch(gpu, {
        shader: SHADERS.weight, entry, label: `${op}(${dW.name})`,
        constants: { KH: s.kh, KW: s.kw, S: s.stride, HO: ho, WO: wo, PAIR: pixelPairs(s, gpu.tune) ? 1 : 0 },
        flops: conv2dFlops(s),
        bindings: [{ read: x }, { write: partials }, { uniform: uniform(gpu, entry, s, { chunk: plan.chunk }) }, { read: dy }],
        workgroups: [plan.splits, s.cin, Math.ceil(s.cout / CB)],
      }),
      sumPartials(gpu, dW.name, partials, dW, s, plan.splits, TUNING[variant].wg),
    ];
  }
  const plan = weightPlan(s, variant);
  const partials = { ...scratch, length: plan.splits * dW.length };
  return [
    makeDispatch(gpu, {
      shader: SHADERS.weight, entry: op, constants: { WG: plan.wg }, label: `${op}(${dW.name})`, flops: conv2dFlops(s),
      bindings: [{ read: x }, { write: partials }, { uniform: uniform(gpu, op, s, { chunk: plan.chunk }) }, { read: dy }],
      workgroups: [plan.kBlocks, Math.ceil(s.cout / CB), plan.splits],
    }),
    sumPartials(gpu, dW.name, partials, dW, s, plan.splits, TUNING[variant].wg),
  ];
}

/** db = ∂L/∂bias = Σ_{n, oy, ox} dy; db [Cout] is overwritten. scratch: conv2dScratchLength elements. */
export function conv2dBackwardBias(gpu: Gpu, s: Conv2dShape, dy: Tensor, db: Tensor, scratch: Tensor, variant = gpu.kernels): Dispatch[] {
  const op = 'conv2d_backward_bias';
  const { ho, wo } = checkShape(op, s);
  checkLength(op, dy, 'output gradient', [s.n, s.cout, ho, wo]);
  checkLength(op, db, 'bias gradient', [s.cout]);
  checkScratch(gpu, op, s, scratch, variant);
  const { wg } = TUNING[variant];
  const count = s.n * s.cout;
  const partials = { ...scratch, length: count };
  return [
    makeDispatch(gpu, {
      shader: SHADERS.bias, entry: op, constants: { WG: wg }, label: `${op}(${db.name})`,
      bindings: [{ read: dy }, { write: partials }, { uniform: uniform(gpu, op, s, { count }) }],
      workgroups: grid(Math.ceil(count / wg), 1),
    }),
    sumPartials(gpu, db.name, partials, db, s, s.n, wg),
  ];
}
