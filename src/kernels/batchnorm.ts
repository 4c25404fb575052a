// Batch norm (PyTorch BatchNorm1d/BatchNorm2d semantics) as a per-channel reduction plus an
// elementwise pass, in both directions. The tensor is viewed as [N, C, S] with S = H·W (S = 1 for
// the 1-d case), so one set of kernels serves both.
// Two kernel sets, picked by adapter class: 'cpu' reduces each channel in one workgroup
// (batchnorm.wgsl); 'gpu' splits each channel's samples into chunks reduced by many workgroups
// and combined in a fixed order (batchnorm_split.wgsl), and can fold a following ReLU into the
// forward and backward passes. Both files include batchnorm_common.wgsl (the uniform, the
// workgroup sum, the statistics' passes). The 'gpu' set needs a scratch tensor (batchnormScratchLength).
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import { type Binding, type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform, type Uniform } from '../gpu/uniforms.ts';

const SHADER = 'batchnorm.wgsl';
const SPLIT_SHADER = 'batchnorm_split.wgsl';
/** The uniform of both files (batchnorm_common.wgsl); chunk, chunks and coef_at are read by the 'gpu' set only. */
const PARAMS = [['n', 'u32'], ['c', 'u32'], ['s', 'u32'], ['eps', 'f32'], ['momentum', 'f32'],
  ['chunk', 'u32'], ['chunks', 'u32'], ['coef_at', 'u32']] as const;
/** 'gpu' set: about this many workgroups per reduction (chunks × channels), ~4 per SM on an H100/H200. */
const SPLIT_TARGET_GROUPS = 512;
/** Tensor views into scratch start at multiples of 64 elements (256 bytes, WebGPU's offset alignment). */
const VIEW_ALIGN = 64;
const MAX_GROUPS = 65535;
/** Invocations per workgroup in both kernel kinds. */
const WG = 256;

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** Batch N, channels C, spatial size S per (sample, channel): H·W for 2-d, 1 for 1-d. */
export interface BatchNormDims { n: number; c: number; s: number }

/** Dims of an [N, C] (1-d) or [N, C, H, W] (2-d) activation shape. */
export function batchnormDims(shape: readonly number[]): BatchNormDims {
  assertShape(shape.length === 2 || shape.length === 4, `batchnorm: input shape [${shape}] must be [N, C] or [N, C, H, W]`);
  return { n: shape[0]!, c: shape[1]!, s: shape.length === 4 ? shape[2]! * shape[3]! : 1 };
}

export interface BatchNormOptions {
  eps?: number; momentum?: number;
  /** Kernel set; default: the adapter's class. */
  variant?: AdapterClass;
  /** 'gpu' set: scratch of at least batchnormScratchLength elements (partials and coefficients). */
  scratch?: Tensor;
  /** Forward passes: y = relu(BN(x)). Backward: see BatchNormBackwardTensors.y. 'gpu' set only in the backward. */
  relu?: boolean;
}

/** Samples per chunk and chunks per channel of the 'gpu' set's split reductions. */
function splitPlan(d: BatchNormDims): { chunk: number; chunks: number } {
  const wanted = Math.min(d.n, Math.max(1, Math.ceil(SPLIT_TARGET_GROUPS / d.c)));
  const chunk = Math.ceil(d.n / wanted);
  return { chunk, chunks: Math.ceil(d.n / chunk) };
}

function coefOffset(d: BatchNormDims): number {
  return Math.ceil(2 * d.c * splitPlan(d).chunks / VIEW_ALIGN) * VIEW_ALIGN;
}

/** Scratch elements the kernels need for these dims (0 for the 'cpu' set). */
export function batchnormScratchLength(d: BatchNormDims, variant: AdapterClass): number {
  return variant === 'gpu' ? coefOffset(d) + 8 * d.c : 0;
}

/**
 * The 'gpu' set's views of scratch: chunk partials [C, chunks] of vec2, 8 coefficients per channel,
 * and both together (the backward combine reads the one and writes the other).
 */
function splitViews(op: string, d: BatchNormDims, scratch: Tensor | undefined): { partials: Tensor; coef: Tensor; both: Tensor } {
  const need = batchnormScratchLength(d, 'gpu');
  assertShape(!!scratch && scratch.length >= need, `${op}: the gpu kernel set needs a scratch tensor of ${need} elements, got ${scratch ? scratch.length : 'none'}`);
  const at = coefOffset(d);
  return {
    partials: { ...scratch!, length: 2 * d.c * splitPlan(d).chunks },
    coef: { ...scratch!, offset: scratch!.offset + at, length: 8 * d.c },
    both: { ...scratch!, length: at + 8 * d.c },
  };
}

function uniform(gpu: Gpu, entry: string, d: BatchNormDims, opts: BatchNormOptions): Uniform {
  return createUniform(gpu, `${entry}-params`, PARAMS,
    { ...d, eps: opts.eps ?? BN_EPS, momentum: opts.momentum ?? BN_MOMENTUM, ...splitPlan(d), coef_at: coefOffset(d) });
}

/** Grid (chunks, C): one workgroup per chunk of one channel. */
function splitReduction(gpu: Gpu, entry: string, d: BatchNormDims, opts: BatchNormOptions, label: string, bindings: Binding[]): Dispatch {
  return makeDispatch(gpu, {
    shader: SPLIT_SHADER, entry, constants: { ...laneShape(d.s), ...(opts.relu ? { RELU: 1 } : {}) }, label: `${entry}(${label})`,
    bindings: [{ uniform: uniform(gpu, entry, d, opts) }, ...bindings],
    workgroups: [splitPlan(d).chunks, d.c, 1],
  });
}

/** One invocation per channel. */
function splitCombine(gpu: Gpu, entry: string, d: BatchNormDims, opts: BatchNormOptions, label: string, bindings: Binding[]): Dispatch {
  return makeDispatch(gpu, {
    shader: SPLIT_SHADER, entry, label: `${entry}(${label})`,
    bindings: [{ uniform: uniform(gpu, entry, d, opts) }, ...bindings],
    workgroups: grid1d(d.c, 64),
  });
}

/**
 * 'gpu' set: whether the statistics' combine runs inside the elementwise pass that uses them (one
 * dispatch fewer per direction; batchnorm_split.wgsl), which binds 10 storage buffers. Devices
 * that allow fewer run the combine as a pass of its own; the values are the same bits either way
 * (gpu.tune.bnCombineInApply = 0 forces the separate passes, for the case that checks it).
 */
function combinesInApply(gpu: Gpu): boolean {
  return gpu.device.limits.maxStorageBuffersPerShaderStage >= 10 && gpu.tune.bnCombineInApply !== 0;
}

function checkDims(op: string, d: BatchNormDims): void {
  for (const [k, v] of Object.entries(d)) {
    assertShape(Number.isInteger(v) && v >= 1, `${op}: ${k} = ${v} must be a positive integer`);
  }
  assertShape(d.n <= MAX_GROUPS, `${op}: batch ${d.n} exceeds ${MAX_GROUPS} (one grid row per sample)`);
  assertShape(d.c <= MAX_GROUPS, `${op}: ${d.c} channels exceed ${MAX_GROUPS} (one grid row per channel)`);
}

function expectLength(op: string, t: Tensor, n: number, what: string): void {
  assertShape(t.length === n, `${op}: ${t.name} has ${t.length} elements, expected ${n} (${what})`);
}

function checkActivations(op: string, d: BatchNormDims, ...ts: Tensor[]): void {
  for (const t of ts) expectLength(op, t, d.n * d.c * d.s, `N·C·S = ${d.n}·${d.c}·${d.s}`);
}

function checkChannels(op: string, d: BatchNormDims, ...ts: Tensor[]): void {
  for (const t of ts) expectLength(op, t, d.c, `one per channel, C = ${d.c}`);
}

/** Lanes along S (a power of two ≥ S, capped at WG) and along the other axis, WX·WY = WG. */
function laneShape(s: number): { WX: number; WY: number } {
  let wx = 1;
  while (wx < s && wx < WG) wx *= 2;
  return { WX: wx, WY: WG / wx };
}

/** One workgroup per channel. */
function reduction(gpu: Gpu, entry: string, d: BatchNormDims, opts: BatchNormOptions, label: string, bindings: Binding[]): Dispatch {
  return makeDispatch(gpu, {
    shader: SHADER, entry, constants: laneShape(d.s), label: `${entry}(${label})`,
    bindings: [{ uniform: uniform(gpu, entry, d, opts) }, ...bindings],
    workgroups: grid1d(d.c, 1),
  });
}

/**
 * Grid (1, C, N) in blocks of WX × WY: each invocation walks one row of S values with stride WX
 * (on lavapipe this beat one invocation per element by about 2× at S = 1024).
 */
function elementwise(gpu: Gpu, entry: string, d: BatchNormDims, opts: BatchNormOptions, label: string, bindings: Binding[], shader = SHADER): Dispatch {
  const lanes = laneShape(d.s);
  const workgroups = [1, Math.ceil(d.c / lanes.WY), d.n] as const;
  return makeDispatch(gpu, {
    shader, entry, constants: { ...lanes, ...(opts.relu ? { RELU: 1 } : {}) }, label: `${entry}(${label})`,
    bindings: [{ uniform: uniform(gpu, entry, d, opts) }, ...bindings],
    workgroups,
  });
}

export interface BatchNormTrainTensors {
  x: Tensor; gamma: Tensor; beta: Tensor; y: Tensor;
  /** Written: the batch mean and 1/sqrt(biased var + eps) per channel, for the backward. */
  mean: Tensor; invstd: Tensor;
  /** Updated in place: running = (1 − momentum)·running + momentum·batch (unbiased var). */
  runningMean: Tensor; runningVar: Tensor;
}

/**
 * Training-mode forward: batch statistics, running-stat update, then normalise. Two dispatches
 * (the 'gpu' set's statistics combined in the second, or three where the device binds fewer than 10 storage buffers).
 */
export function batchnormForwardTrain(gpu: Gpu, d: BatchNormDims, t: BatchNormTrainTensors, opts: BatchNormOptions = {}): Dispatch[] {
  const op = 'batchnorm_forward_train';
  checkDims(op, d);
  assertShape(d.n * d.s > 1, `${op}: a channel has only ${d.n * d.s} value (N·S must be > 1 to estimate a variance)`);
  checkActivations(op, d, t.x, t.y);
  checkChannels(op, d, t.gamma, t.beta, t.mean, t.invstd, t.runningMean, t.runningVar);
  const apply = () => elementwise(gpu, op, d, opts, t.y.name,
    [{ read: t.x }, { read: t.mean }, { read: t.invstd }, { read: t.gamma }, { read: t.beta }, { write: t.y }]);
  const stats: Binding[] = [{ write: t.mean }, { write: t.invstd }, { write: t.runningMean }, { write: t.runningVar }];
  if ((opts.variant ?? gpu.kernels) === 'cpu') {
    return [reduction(gpu, 'batchnorm_stats_forward', d, opts, t.x.name, [{ read: t.x }, ...stats]), apply()];
  }
  const { partials } = splitViews(op, d, opts.scratch);
  const partial = splitReduction(gpu, 'batchnorm_stats_partial', d, opts, t.x.name, [{ read: t.x }, { write: partials }]);
  if (combinesInApply(gpu)) {
    return [partial, elementwise(gpu, 'batchnorm_forward_combine_apply', d, opts, t.y.name,
      [{ read: partials }, ...stats, { read: t.x }, { read: t.gamma }, { read: t.beta }, { write: t.y }], SPLIT_SHADER)];
  }
  return [partial, splitCombine(gpu, 'batchnorm_stats_combine', d, opts, t.x.name, [{ read: partials }, ...stats]), apply()];
}

export interface BatchNormEvalTensors {
  x: Tensor; gamma: Tensor; beta: Tensor; runningMean: Tensor; runningVar: Tensor; y: Tensor;
}

/** Eval-mode forward with the running statistics. */
export function batchnormForwardEval(gpu: Gpu, d: BatchNormDims, t: BatchNormEvalTensors, opts: Pick<BatchNormOptions, 'eps' | 'relu'> = {}): Dispatch {
  const op = 'batchnorm_forward_eval';
  checkDims(op, d);
  checkActivations(op, d, t.x, t.y);
  checkChannels(op, d, t.gamma, t.beta, t.runningMean, t.runningVar);
  return elementwise(gpu, op, d, opts, t.y.name,
    [{ read: t.x }, { read: t.runningMean }, { read: t.runningVar }, { read: t.gamma }, { read: t.beta }, { write: t.y }]);
}

export interface BatchNormBackwardTensors {
  /** Forward input and the statistics saved by batchnormForwardTrain. */
  x: Tensor; gamma: Tensor; mean: Tensor; invstd: Tensor;
  dy: Tensor;
  /**
   * With a fused ReLU (forward run with relu: true): its output relu(BN(x)); dy is then the
   * gradient w.r.t. that output and is masked by y > 0 here. 'gpu' set only.
   */
  y?: Tensor;
  /** Written (overwritten, not accumulated). */
  dx: Tensor; dgamma: Tensor; dbeta: Tensor;
}

/** Training-mode backward: dγ and dβ per channel, then dx. Two dispatches (three in the 'gpu' set where the device binds fewer than 10 storage buffers). */
export function batchnormBackward(gpu: Gpu, d: BatchNormDims, t: BatchNormBackwardTensors, opts: Pick<BatchNormOptions, 'variant' | 'scratch'> = {}): Dispatch[] {
  const op = 'batchnorm_backward';
  checkDims(op, d);
  checkActivations(op, d, t.x, t.dy, t.dx, ...(t.y ? [t.y] : []));
  checkChannels(op, d, t.gamma, t.mean, t.invstd, t.dgamma, t.dbeta);
  if ((opts.variant ?? gpu.kernels) === 'gpu') {
    const { partials, coef, both } = splitViews(op, d, opts.scratch);
    const k = { relu: !!t.y };
    // Without a fused ReLU the mask binding is unread; dy stands in for it.
    const g: Binding[] = [{ read: t.x }, { read: t.dy }, { read: t.y ?? t.dy }];
    if (combinesInApply(gpu)) {
      return [
        splitReduction(gpu, 'batchnorm_backward_partial', d, k, t.dgamma.name, [...g, { read: t.mean }, { read: t.invstd }, { write: partials }]),
        elementwise(gpu, 'batchnorm_backward_combine_apply', d, k, t.dx.name, [...g, { read: t.mean }, { read: t.invstd }, { read: partials },
          { read: t.gamma }, { write: t.dgamma }, { write: t.dbeta }, { write: t.dx }], SPLIT_SHADER),
      ];
    }
    return [
      splitReduction(gpu, 'batchnorm_backward_partial', d, k, t.dgamma.name, [...g, { read: t.mean }, { read: t.invstd }, { write: partials }]),
      splitCombine(gpu, 'batchnorm_backward_combine', d, k, t.dgamma.name,
        [{ write: both }, { read: t.mean }, { read: t.invstd }, { read: t.gamma }, { write: t.dgamma }, { write: t.dbeta }]),
      elementwise(gpu, 'batchnorm_backward_apply', d, k, t.dx.name, [...g, { read: coef }, { write: t.dx }], SPLIT_SHADER),
    ];
  }
  assertShape(!t.y, `${op}: a fused ReLU backward needs the gpu kernel set (its cpu kernels would need a 9th storage binding)`);
  return [
    reduction(gpu, 'batchnorm_backward_params', d, {}, t.dgamma.name,
      [{ read: t.x }, { read: t.dy }, { read: t.mean }, { read: t.invstd }, { write: t.dgamma }, { write: t.dbeta }]),
    elementwise(gpu, 'batchnorm_backward_input', d, {}, t.dx.name,
      [{ read: t.x }, { read: t.dy }, { read: t.mean }, { read: t.invstd }, { read: t.gamma },
        { read: t.dgamma }, { read: t.dbeta }, { write: t.dx }]),
  ];
}
