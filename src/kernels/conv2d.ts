// 2-D convolution (PyTorch nn.Conv2d conventions, NCHW, weight [Cout, Cin, kh, kw]): forward,
// the gradients of input, weight and bias. Every call uses a caller-owned scratch tensor
// (conv2dScratchLength elements): forward and input gradient first repack the weights into it
// (8 channels per tap as two aligned vec4, see shaders/conv2d.wgsl); the weight and bias
// gradients, long reductions over N·Ho·Wo terms into few outputs, write fixed-size partial sums
// into it and a second dispatch adds them in order (deterministic, no atomics).
// Two kernel sets, picked by adapter class: 'cpu' (conv2d.wgsl: register blocks, no workgroup
// memory, for lavapipe/SwiftShader) and 'gpu' (conv2d_gemm.wgsl: implicit GEMM with
// workgroup-memory tiles, no weight repacking).
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import { type Dispatch, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'conv2d.wgsl';
const GEMM_SHADER = 'conv2d_gemm.wgsl';
/** Channels per workgroup in the shader (its register block's channel width, `CB`). */
const CB = 8;
/** Pixels per invocation along a row in the forward / input-gradient kernels. */
const SEGMENT = 8;
const MAX_GROUPS = 65535;

const PARAMS = [
  ['n', 'u32'], ['cin', 'u32'], ['h', 'u32'], ['w', 'u32'],
  ['cout', 'u32'], ['ho', 'u32'], ['wo', 'u32'], ['kh', 'u32'],
  ['kw', 'u32'], ['stride', 'u32'], ['pad', 'u32'], ['chunk', 'u32'],
  ['count', 'u32'],
] as const;

const GEMM_PARAMS = [
  ['n', 'u32'], ['cin', 'u32'], ['h', 'u32'], ['w', 'u32'],
  ['cout', 'u32'], ['ho', 'u32'], ['wo', 'u32'], ['pad', 'u32'], ['chunk', 'u32'],
] as const;

/**
 * Implicit-GEMM tiling ('gpu' variant). A workgroup owns BM × BN outputs with one invocation per
 * 4 × 4 block, so BM·BN/16 invocations (64..256). The reduction slice KC matches the shader.
 * GEMM_TARGET_GROUPS: enough workgroups for about two per SM on a 132-SM H100/H200; smaller tiles
 * are chosen until a layer reaches it (ResNet-20's 8×8 stage has only 8192 output pixels at b128).
 */
const GEMM_KC = 16;
const GEMM_TARGET_GROUPS = 264;
const GEMM_ROWS = [256, 128, 64, 32, 16];

interface GemmTile { bm: number; bn: number }

function gemmColumns(cols: number): number { return cols <= 16 ? 16 : cols <= 32 ? 32 : 64; }

function gemmRowChoices(bn: number): number[] {
  return GEMM_ROWS.filter((bm) => bm * bn / 16 >= 64 && bm * bn / 16 <= 256);
}

/** Output tiles: the largest BM that still gives GEMM_TARGET_GROUPS workgroups, else the smallest. */
function gemmTile(rows: number, cols: number): GemmTile {
  const bn = gemmColumns(cols);
  const choices = gemmRowChoices(bn);
  const bm = choices.find((m) => Math.ceil(rows / m) * Math.ceil(cols / bn) >= GEMM_TARGET_GROUPS) ?? choices[choices.length - 1]!;
  return { bm, bn };
}

/**
 * Weight-gradient plan: rows are k = (ci, ky, kx), so BM is the choice that wastes the fewest
 * rows; the N·Ho·Wo pixels are split into chunks (multiples of KC) until the grid reaches
 * GEMM_TARGET_GROUPS workgroups.
 */
function gemmWeightPlan(s: Conv2dShape): GemmTile & { splits: number; chunk: number } {
  const { ho, wo } = conv2dOutputSize(s);
  const k = s.cin * s.kh * s.kw, pixels = s.n * ho * wo;
  const bn = gemmColumns(s.cout);
  let bm = 0;
  for (const m of gemmRowChoices(bn)) if (!bm || Math.ceil(k / m) * m - k < Math.ceil(k / bm) * bm - k) bm = m;
  const tiles = Math.ceil(k / bm) * Math.ceil(s.cout / bn);
  const wanted = Math.max(1, Math.min(Math.ceil(GEMM_TARGET_GROUPS / tiles), Math.ceil(pixels / (8 * GEMM_KC))));
  const chunk = Math.ceil(pixels / wanted / GEMM_KC) * GEMM_KC;
  return { bm, bn, chunk, splits: Math.ceil(pixels / chunk) };
}

function gemmUniform(gpu: Gpu, entry: string, s: Conv2dShape, chunk = 0): GPUBuffer {
  const { ho, wo } = conv2dOutputSize(s);
  return createUniform(gpu, `${entry}-params`, GEMM_PARAMS,
    { n: s.n, cin: s.cin, h: s.h, w: s.w, cout: s.cout, ho, wo, pad: s.pad, chunk });
}

function gemmConstants(s: Conv2dShape, t: GemmTile): Record<string, number> {
  return { BM: t.bm, BN: t.bn, KH: s.kh, KW: s.kw, S: s.stride };
}

/** Row tiles folded over x and y (the shader's row_tile), column tiles along z. */
function gemmGrid(rows: number, cols: number, t: GemmTile): [number, number, number] {
  return grid(Math.ceil(rows / t.bm), Math.ceil(cols / t.bn));
}

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
  gpu: { wg: 64, splitGroups: 1024 },
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

function uniform(gpu: Gpu, entry: string, s: Conv2dShape, extra: { chunk?: number; count?: number } = {}): GPUBuffer {
  const { ho, wo } = conv2dOutputSize(s);
  return createUniform(gpu, `${entry}-params`, PARAMS, {
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

/** Elements of the repacked weights for the forward (blocks of output channels) or input-gradient kernel. */
function packedLength(s: Conv2dShape, blocksOfCout: boolean): number {
  const [width, reduced] = blocksOfCout ? [s.cout, s.cin] : [s.cin, s.cout];
  return Math.ceil(width / CB) * CB * reduced * s.kh * s.kw;
}

/** The repack dispatch (weight → scratch, as the shader's `wp` layout) and the view of scratch it fills. */
function packWeights(gpu: Gpu, s: Conv2dShape, weight: Tensor, scratch: Tensor, blocksOfCout: boolean, wg: number): [Dispatch, Tensor] {
  const entry = blocksOfCout ? 'conv2d_pack_forward' : 'conv2d_pack_backward_input';
  const packed = { ...scratch, length: packedLength(s, blocksOfCout) };
  return [makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG: wg, KH: s.kh, KW: s.kw }, label: `${entry}(${weight.name})`,
    bindings: [{ read: weight }, { write: packed }, { uniform: uniform(gpu, entry, s) }],
    workgroups: grid(Math.ceil(packed.length / 4 / wg), 1),
  }), packed];
}

function checkScratch(op: string, s: Conv2dShape, scratch: Tensor, variant: AdapterClass): void {
  const need = conv2dScratchLength(s, variant);
  assertShape(scratch.length >= need, `${op}: scratch ${scratch.name} has ${scratch.length} elements, needs at least ${need}`);
}

/**
 * y = conv(x, weight) + bias. x [N, Cin, H, W], weight [Cout, Cin, kh, kw], bias [Cout] or null,
 * y [N, Cout, Ho, Wo]; scratch: conv2dScratchLength elements (holds the repacked weights).
 */
export function conv2dForward(
  gpu: Gpu, s: Conv2dShape, x: Tensor, weight: Tensor, bias: Tensor | null, y: Tensor, scratch: Tensor,
  variant = gpu.kernels,
): Dispatch[] {
  const op = 'conv2d_forward';
  const { ho, wo } = checkShape(op, s);
  checkLength(op, x, 'input', [s.n, s.cin, s.h, s.w]);
  checkLength(op, weight, 'weight', [s.cout, s.cin, s.kh, s.kw]);
  if (bias) checkLength(op, bias, 'bias', [s.cout]);
  checkLength(op, y, 'output', [s.n, s.cout, ho, wo]);
  checkScratch(op, s, scratch, variant);
  if (variant === 'gpu') {
    const entry = 'conv2d_gemm_forward', rows = s.n * ho * wo, tile = gemmTile(rows, s.cout);
    return [makeDispatch(gpu, {
      shader: GEMM_SHADER, entry, constants: { ...gemmConstants(s, tile), HAS_BIAS: bias ? 1 : 0 }, label: `${op}(${y.name})`, flops: conv2dFlops(s),
      bindings: [{ read: x }, { write: y }, { uniform: gemmUniform(gpu, entry, s) }, { read: weight }, { read: bias ?? x }],
      workgroups: gemmGrid(rows, s.cout, tile),
    })];
  }
  const { wg } = TUNING[variant];
  const [pack, packed] = packWeights(gpu, s, weight, scratch, true, wg);
  return [pack, makeDispatch(gpu, {
    shader: SHADER, entry: op, constants: { WG: wg, HAS_BIAS: bias ? 1 : 0, KH: s.kh, KW: s.kw, S: s.stride },
    label: `${op}(${y.name})`, flops: conv2dFlops(s),
    // Without a bias the binding still exists in the layout; the input stands in, unread.
    bindings: [{ read: x }, { write: y }, { uniform: uniform(gpu, op, s) }, { read: packed }, { read: bias ?? x }],
    workgroups: grid(Math.ceil(segments(s.n, ho, wo) / wg), Math.ceil(s.cout / CB)),
  })];
}

/** dx = ∂L/∂x from dy [N, Cout, Ho, Wo] and weight; dx [N, Cin, H, W] is overwritten. scratch: conv2dScratchLength elements. */
export function conv2dBackwardInput(
  gpu: Gpu, s: Conv2dShape, dy: Tensor, weight: Tensor, dx: Tensor, scratch: Tensor, variant = gpu.kernels,
): Dispatch[] {
  const op = 'conv2d_backward_input';
  const { ho, wo } = checkShape(op, s);
  checkLength(op, dy, 'output gradient', [s.n, s.cout, ho, wo]);
  checkLength(op, weight, 'weight', [s.cout, s.cin, s.kh, s.kw]);
  checkLength(op, dx, 'input gradient', [s.n, s.cin, s.h, s.w]);
  checkScratch(op, s, scratch, variant);
  if (variant === 'gpu') {
    const entry = 'conv2d_gemm_backward_input', rows = s.n * s.h * s.w, tile = gemmTile(rows, s.cin);
    return [makeDispatch(gpu, {
      shader: GEMM_SHADER, entry, constants: gemmConstants(s, tile), label: `${op}(${dx.name})`, flops: conv2dFlops(s),
      bindings: [{ read: dy }, { write: dx }, { uniform: gemmUniform(gpu, entry, s) }, { read: weight }],
      workgroups: gemmGrid(rows, s.cin, tile),
    })];
  }
  const { wg } = TUNING[variant];
  const [pack, packed] = packWeights(gpu, s, weight, scratch, false, wg);
  // The largest of the stride² pixel classes (see the shader) sets the segment-block count.
  const classSegments = segments(s.n, Math.ceil(s.h / s.stride), Math.ceil(s.w / s.stride));
  return [pack, makeDispatch(gpu, {
    shader: SHADER, entry: op, constants: { WG: wg, KH: s.kh, KW: s.kw, S: s.stride }, label: `${op}(${dx.name})`, flops: conv2dFlops(s),
    bindings: [{ read: dy }, { write: dx }, { uniform: uniform(gpu, op, s) }, { read: packed }],
    workgroups: grid(Math.ceil(classSegments / wg), s.stride * s.stride * Math.ceil(s.cin / CB)),
  })];
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
 * tensor of the largest such length can serve every convolution of a model.
 */
export function conv2dScratchLength(s: Conv2dShape, variant: AdapterClass): number {
  checkShape('conv2dScratchLength', s);
  if (variant === 'gpu') return Math.max(gemmWeightPlan(s).splits * s.cout * s.cin * s.kh * s.kw, s.n * s.cout);
  return Math.max(packedLength(s, true), packedLength(s, false),
    weightPlan(s, variant).splits * s.cout * s.cin * s.kh * s.kw, s.n * s.cout);
}

/** sum dispatch: result[i] = Σ_{z < parts} scratch[z·count + i]. */
function sumPartials(gpu: Gpu, label: string, scratch: Tensor, result: Tensor, s: Conv2dShape, parts: number, wg: number): Dispatch {
  const entry = 'conv2d_backward_sum';
  const count = result.length;
  return makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG: wg }, label: `${entry}(${label})`,
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
  checkScratch(op, s, scratch, variant);
  if (variant === 'gpu') {
    const entry = 'conv2d_gemm_backward_weight', plan = gemmWeightPlan(s);
    const partials = { ...scratch, length: plan.splits * dW.length };
    return [
      makeDispatch(gpu, {
        shader: GEMM_SHADER, entry, constants: gemmConstants(s, plan), label: `${op}(${dW.name})`, flops: conv2dFlops(s),
        bindings: [{ read: x }, { write: partials }, { uniform: gemmUniform(gpu, entry, s, plan.chunk) }, { read: dy }],
        workgroups: [Math.ceil(dW.length / s.cout / plan.bm), Math.ceil(s.cout / plan.bn), plan.splits],
      }),
      sumPartials(gpu, dW.name, partials, dW, s, plan.splits, TUNING[variant].wg),
    ];
  }
  const plan = weightPlan(s, variant);
  const partials = { ...scratch, length: plan.splits * dW.length };
  return [
    makeDispatch(gpu, {
      shader: SHADER, entry: op, constants: { WG: plan.wg }, label: `${op}(${dW.name})`, flops: conv2dFlops(s),
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
  checkScratch(op, s, scratch, variant);
  const { wg } = TUNING[variant];
  const count = s.n * s.cout;
  const partials = { ...scratch, length: count };
  return [
    makeDispatch(gpu, {
      shader: SHADER, entry: op, constants: { WG: wg }, label: `${op}(${db.name})`,
      bindings: [{ read: dy }, { write: partials }, { uniform: uniform(gpu, op, s, { count }) }],
      workgroups: grid(Math.ceil(count / wg), 1),
    }),
    sumPartials(gpu, db.name, partials, db, s, s.n, wg),
  ];
}
