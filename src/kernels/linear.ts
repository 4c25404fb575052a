// Linear layers (PyTorch nn.Linear conventions: W is [out, in], y = x·Wᵀ + b) and the square
// matmul of the benchmark, as dispatches of one GEMM shader. The body is picked per adapter and
// shape at creation: on CPU drivers 'subgroups' (linear_subgroups.wgsl: one subgroup per
// workgroup shares the rows of op(A)) where the device has fixed-size subgroups and the operands
// can be read as vec4s, else 'registers'; on real GPUs 'tiledLarge' (linear_large.wgsl: 128×128
// tiles, 8×8 outputs per invocation) where the GEMM has enough such tiles to fill the GPU, else
// 'tiled' (linear.wgsl: 64×64 tiles in shared memory). `variant` forces one, so the kernel cases
// can check every body on any adapter that can run it. All but 'subgroups' sum each output's
// terms in the same order, so they agree bit for bit. The bodies share their bindings and
// epilogue (linear_common.wgsl); the bias gradients are linear_bias.wgsl.
import type { Gpu } from '../gpu/gpu.ts';
import { type Binding, type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'linear.wgsl';
const SUBGROUP_SHADER = 'linear_subgroups.wgsl';
const LARGE_SHADER = 'linear_large.wgsl';
/** Output tile side of the large body, and the fewest such tiles for which it is picked (gpu.tune.gemmLargeTiles). */
const LARGE_TILE = 128;
const LARGE_MIN_TILES = 128;
/**
 * k values per workgroup-memory slab of the large body: 8 or 16 (gpu.tune.gemmSlab; H200 4096³:
 * 31.3 TFLOP/s at 8, 23.8 at 16). Slabs are double-buffered (one barrier per slab) unless
 * gpu.tune.gemmDouble = 0: H200 4096³ 29.0–29.1 against 27.2–27.4 TFLOP/s in the same calls.
 */
const LARGE_SLAB = 8;

/**
 * Width of the patch of the large body's 16×16 invocation grid that one 32-lane subgroup covers:
 * 8 (8×4 lanes, 4 workgroup-memory wavefronts per k row of a slab) or 16 (16×2, 6 wavefronts, the
 * layout until 2026-11-26), or 4 (4×8) — gpu.tune.gemmLanes; see linear_large.wgsl.
 */
const LARGE_LANES = 8;

/** A tuning number of the large body (gpu.tune[name], else the default), one of `allowed`. */
function largeTune(gpu: Gpu, name: 'gemmSlab' | 'gemmLanes', fallback: number, allowed: readonly number[]): number {
  const v = gpu.tune[name] ?? fallback;
  assertShape(allowed.includes(v), `linear: ${name}=${v}, expected ${allowed.join(', ')}`);
  return v;
}

/** Both bias gradients, with and without the ReLU after the layer (linear_bias.wgsl). */
const BIAS_SHADER = 'linear_bias.wgsl';
const PARAMS = [['M', 'u32'], ['N', 'u32'], ['K', 'u32']] as const;
const BIAS_PARAMS = [['M', 'u32'], ['N', 'u32']] as const;
const BIAS_WG = 64;

export type GemmVariant = 'registers' | 'tiled' | 'tiledLarge' | 'subgroups';
export interface GemmOptions { variant?: GemmVariant }
export interface LinearDims { batch: number; in: number; out: number }
export interface MatmulDims { m: number; n: number; k: number }

/** Outputs per invocation side and invocations per workgroup side, per body of linear.wgsl. */
const SHAPE: Record<Exclude<GemmVariant, 'subgroups' | 'tiledLarge'>, { perInvocation: number; wg: number }> = {
  registers: { perInvocation: 8, wg: 8 },
  tiled: { perInvocation: 4, wg: 16 },
};

/** Columns of C per lane in the subgroup body. */
const SUBGROUP_COLUMNS = 4;

/** The fixed subgroup size the subgroups GEMM can use on this device, or null where it cannot run. */
export function subgroupLanes(gpu: Gpu): number | null {
  const sg = gpu.subgroupSize;
  return sg === 4 || sg === 8 ? sg : null;
}

/** Whether the subgroup body can read this GEMM's operands as vec4s (see linear_subgroups.wgsl). */
function vec4Operands(s: GemmSpec): boolean {
  return s.k % 4 === 0 && (!s.ta || s.m % 4 === 0) && (s.tb || s.n % 4 === 0);
}

function pickVariant(gpu: Gpu, s: GemmSpec, opts?: GemmOptions): GemmVariant {
  if (opts?.variant === 'subgroups') {
    if (subgroupLanes(gpu) === null) throw new Error(`${s.entry}: the subgroups GEMM needs a device with fixed-size subgroups of 4 or 8 lanes`);
    assertShape(vec4Operands(s), `${s.entry}: the subgroups GEMM needs K, and M (A transposed) or N (B not transposed), to be multiples of 4`);
    return 'subgroups';
  }
  if (opts?.variant) return opts.variant;
  if (gpu.kernels === 'gpu') {
    const tiles = Math.ceil(s.m / LARGE_TILE) * Math.ceil(s.n / LARGE_TILE);
    return tiles >= (gpu.tune.gemmLargeTiles ?? LARGE_MIN_TILES) ? 'tiledLarge' : 'tiled';
  }
  return subgroupLanes(gpu) !== null && vec4Operands(s) ? 'subgroups' : 'registers';
}

function checkLength(op: string, t: Tensor, expected: number, what: string): void {
  assertShape(t.length === expected, `${op}: ${t.name} has ${t.length} elements, expected ${expected} (${what})`);
}

function checkDims(op: string, dims: Record<string, number>): void {
  for (const [k, v] of Object.entries(dims)) {
    assertShape(Number.isInteger(v) && v > 0, `${op}: dimension ${k}=${v} must be a positive integer`);
  }
}

/**
 * A 16-byte read-only buffer bound to the vec4 views (a4/b4) when an operand is read as
 * scalars: WebGPU requires every binding the shader declares, and a vec4 array needs 16 bytes.
 */
function dummyVec4(gpu: Gpu, label: string): Tensor {
  return createTensor(gpu, `${label}-novec4`, [4]);
}

interface GemmSpec {
  entry: string;
  a: Tensor; b: Tensor; c: Tensor; bias: Tensor | null;
  m: number; n: number; k: number;
  ta: boolean; tb: boolean;
  /** max(·, 0) after the bias (a linear layer followed by a ReLU). */
  relu: boolean;
}

/**
 * Floating-point operations of a GEMM: 2·M·N·K (one multiply and one add per term; for a linear
 * layer 2·batch·in·out). The bias and ReLU epilogue (≤ 2·M·N) is not counted.
 */
function gemmFlops(s: GemmSpec): number {
  return 2 * s.m * s.n * s.k;
}

/** One GEMM dispatch C[M,N] = op(A)·op(B) (+ bias) after the caller checked shapes. */
function gemm(gpu: Gpu, s: GemmSpec, opts?: GemmOptions): Dispatch {
  const variant = pickVariant(gpu, s, opts);
  // Vector loads run along each operand's contiguous dimension; they need it to be a multiple of 4
  // (the subgroups body reads only vectors and is picked only where both operands allow them).
  const vectors = variant !== 'tiled';
  const aVec = vectors && (s.ta ? s.m : s.k) % 4 === 0;
  const bVec = vectors && (s.tb ? s.k : s.n) % 4 === 0;
  const label = `${s.entry}(${s.c.name})`;
  const bindings: Binding[] = [
    { read: s.a }, { read: s.b }, { read: s.bias ?? s.a }, { write: s.c },
    { uniform: createUniform(gpu, `${s.entry}-params`, PARAMS, { M: s.m, N: s.n, K: s.k }) },
    { read: aVec ? s.a : dummyVec4(gpu, `${label}-a`) }, { read: bVec ? s.b : dummyVec4(gpu, `${label}-b`) },
  ];
  if (variant === 'subgroups') return gemmSubgroups(gpu, s, bindings);
  if (variant === 'tiledLarge') {
    return makeDispatch(gpu, {
      shader: LARGE_SHADER, entry: s.entry, label, flops: gemmFlops(s),
      constants: { A_VEC: aVec ? 1 : 0, B_VEC: bVec ? 1 : 0, HAS_BIAS: s.bias ? 1 : 0, RELU: s.relu ? 1 : 0, BK: largeTune(gpu, 'gemmSlab', LARGE_SLAB, [8, 16]), DOUBLE: (gpu.tune.gemmDouble ?? 1) !== 0 ? 1 : 0, LANE_W: largeTune(gpu, 'gemmLanes', LARGE_LANES, [4, 8, 16]) },
      bindings,
      workgroups: [Math.ceil(s.n / LARGE_TILE), Math.ceil(s.m / LARGE_TILE), 1],
    });
  }
  const { perInvocation, wg } = SHAPE[variant];
  const span = perInvocation * wg;
  return makeDispatch(gpu, {
    shader: SHADER, entry: s.entry, label, flops: gemmFlops(s),
    constants: {
      TILED: variant === 'tiled' ? 1 : 0, A_VEC: aVec ? 1 : 0, B_VEC: bVec ? 1 : 0,
      HAS_BIAS: s.bias ? 1 : 0, RELU: s.relu ? 1 : 0, WGX: wg, WGY: wg,
    },
    bindings,
    workgroups: [Math.ceil(s.n / span), Math.ceil(s.m / span), 1],
  });
}

/**
 * The subgroup body: a workgroup is one subgroup of `lanes` invocations, each owning 4 columns,
 * over 32 rows (16 when M is at most 16, to not compute padding rows).
 */
function gemmSubgroups(gpu: Gpu, s: GemmSpec, bindings: Binding[]): Dispatch {
  const lanes = subgroupLanes(gpu)!;
  const octets = s.m <= 16 ? 2 : 4;
  return makeDispatch(gpu, {
    shader: SUBGROUP_SHADER, entry: s.entry, label: `${s.entry}(${s.c.name})`, flops: gemmFlops(s),
    constants: { SG: lanes, OCTETS: octets, HAS_BIAS: s.bias ? 1 : 0, RELU: s.relu ? 1 : 0 },
    bindings,
    workgroups: [Math.ceil(s.n / (lanes * SUBGROUP_COLUMNS)), Math.ceil(s.m / (8 * octets)), 1],
  });
}

/** C[m,n] = A[m,k]·B[k,n], all row-major. */
export function matmul(gpu: Gpu, a: Tensor, b: Tensor, c: Tensor, dims: MatmulDims, opts?: GemmOptions): Dispatch {
  const op = 'matmul_forward';
  const { m, n, k } = dims;
  checkDims(op, { m, n, k });
  checkLength(op, a, m * k, `A is [m=${m}, k=${k}]`);
  checkLength(op, b, k * n, `B is [k=${k}, n=${n}]`);
  checkLength(op, c, m * n, `C is [m=${m}, n=${n}]`);
  return gemm(gpu, { entry: op, a, b, c, bias: null, m, n, k, ta: false, tb: false, relu: false }, opts);
}

/** y[batch,out] = x[batch,in]·Wᵀ + bias, W is [out, in]; bias [out] may be null. */
export function linearForward(
  gpu: Gpu, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor, dims: LinearDims, opts?: GemmOptions,
): Dispatch {
  return forward(gpu, x, w, bias, y, dims, false, opts);
}

/**
 * y = max(x·Wᵀ + bias, 0): a linear layer and the ReLU after it in one dispatch. Its backward is
 * linearReluBackwardBias (the masked gradient dz and db), then the weight and input gradients
 * of dz.
 */
export function linearReluForward(
  gpu: Gpu, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor, dims: LinearDims, opts?: GemmOptions,
): Dispatch {
  return forward(gpu, x, w, bias, y, dims, true, opts);
}

function forward(
  gpu: Gpu, x: Tensor, w: Tensor, bias: Tensor | null, y: Tensor, dims: LinearDims, relu: boolean, opts?: GemmOptions,
): Dispatch {
  const op = 'linear_forward';
  checkDims(op, { batch: dims.batch, in: dims.in, out: dims.out });
  checkLength(op, x, dims.batch * dims.in, `x is [batch=${dims.batch}, in=${dims.in}]`);
  checkLength(op, w, dims.out * dims.in, `W is [out=${dims.out}, in=${dims.in}]`);
  if (bias) checkLength(op, bias, dims.out, `bias is [out=${dims.out}]`);
  checkLength(op, y, dims.batch * dims.out, `y is [batch=${dims.batch}, out=${dims.out}]`);
  return gemm(gpu, { entry: op, a: x, b: w, c: y, bias, m: dims.batch, n: dims.out, k: dims.in, ta: false, tb: true, relu }, opts);
}

/** dx[batch,in] = dy[batch,out]·W. */
export function linearBackwardInput(gpu: Gpu, dy: Tensor, w: Tensor, dx: Tensor, dims: LinearDims, opts?: GemmOptions): Dispatch {
  const op = 'linear_backward_input';
  checkDims(op, { batch: dims.batch, in: dims.in, out: dims.out });
  checkLength(op, dy, dims.batch * dims.out, `dy is [batch=${dims.batch}, out=${dims.out}]`);
  checkLength(op, w, dims.out * dims.in, `W is [out=${dims.out}, in=${dims.in}]`);
  checkLength(op, dx, dims.batch * dims.in, `dx is [batch=${dims.batch}, in=${dims.in}]`);
  return gemm(gpu, { entry: op, a: dy, b: w, c: dx, bias: null, m: dims.batch, n: dims.in, k: dims.out, ta: false, tb: false, relu: false }, opts);
}

/** dW[out,in] = dyᵀ·x (overwrites dW; gradient accumulation across steps is the optimiser's job). */
export function linearBackwardWeight(gpu: Gpu, dy: Tensor, x: Tensor, dw: Tensor, dims: LinearDims, opts?: GemmOptions): Dispatch {
  const op = 'linear_backward_weight';
  checkDims(op, { batch: dims.batch, in: dims.in, out: dims.out });
  checkLength(op, dy, dims.batch * dims.out, `dy is [batch=${dims.batch}, out=${dims.out}]`);
  checkLength(op, x, dims.batch * dims.in, `x is [batch=${dims.batch}, in=${dims.in}]`);
  checkLength(op, dw, dims.out * dims.in, `dW is [out=${dims.out}, in=${dims.in}]`);
  return gemm(gpu, { entry: op, a: dy, b: x, c: dw, bias: null, m: dims.out, n: dims.in, k: dims.batch, ta: true, tb: false, relu: false }, opts);
}

/** db[out] = Σ_batch dy[batch, out]. */
export function linearBackwardBias(gpu: Gpu, dy: Tensor, db: Tensor, dims: Pick<LinearDims, 'batch' | 'out'>): Dispatch {
  const op = 'linear_backward_bias';
  checkDims(op, { batch: dims.batch, out: dims.out });
  checkLength(op, dy, dims.batch * dims.out, `dy is [batch=${dims.batch}, out=${dims.out}]`);
  checkLength(op, db, dims.out, `db is [out=${dims.out}]`);
  return makeDispatch(gpu, {
    shader: BIAS_SHADER, entry: op, label: `${op}(${db.name})`, constants: { WG: BIAS_WG }, flops: dims.batch * dims.out, // one add per dy element
    bindings: [{ read: dy }, { write: db }, { uniform: createUniform(gpu, `${op}-params`, BIAS_PARAMS, { M: dims.batch, N: dims.out }) }],
    workgroups: grid1d(dims.out, BIAS_WG),
  });
}

/**
 * The fused layer's ReLU backward and bias gradient in one dispatch: dz = dy where y > 0 (y is
 * the layer's output), db[out] = Σ_batch dz.
 */
export function linearReluBackwardBias(
  gpu: Gpu, dy: Tensor, y: Tensor, dz: Tensor, db: Tensor, dims: Pick<LinearDims, 'batch' | 'out'>,
): Dispatch {
  const op = 'linear_relu_backward_bias';
  checkDims(op, { batch: dims.batch, out: dims.out });
  for (const t of [dy, y, dz]) checkLength(op, t, dims.batch * dims.out, `${t.name} is [batch=${dims.batch}, out=${dims.out}]`);
  checkLength(op, db, dims.out, `db is [out=${dims.out}]`);
  return makeDispatch(gpu, {
    shader: BIAS_SHADER, entry: op, label: `${op}(${db.name})`, constants: { WG: BIAS_WG }, flops: dims.batch * dims.out, // one add per dz element
    bindings: [
      { read: dy }, { write: db }, { uniform: createUniform(gpu, `${op}-params`, BIAS_PARAMS, { M: dims.batch, N: dims.out }) },
      { read: y }, { write: dz },
    ],
    workgroups: grid1d(dims.out, BIAS_WG),
  });
}
