// Pooling on NCHW tensors (PyTorch floor mode): 2×2 max pool (VGG), k×k average pool with
// stride k (VGG's head) and global average pool to [N, C] (ResNet's head). Forward and backward
// are one dispatch each; backward overwrites dx entirely (zeros where no window reaches).
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'pooling.wgsl';
const WG = 256;
const PARAMS = [['count', 'u32'], ['h', 'u32'], ['w', 'u32'], ['oh', 'u32'], ['ow', 'u32'], ['k', 'u32']] as const;

/** Input dims [N, C, H, W]. */
export interface PoolDims { n: number; c: number; h: number; w: number }

export function poolDims(shape: readonly number[]): PoolDims {
  assertShape(shape.length === 4, `pooling: input shape [${shape}] must be [N, C, H, W]`);
  return { n: shape[0]!, c: shape[1]!, h: shape[2]!, w: shape[3]! };
}

/** Output spatial size of a k×k, stride-k window in floor mode. */
export function pooledSize(d: PoolDims, k: number): { oh: number; ow: number } {
  return { oh: Math.floor(d.h / k), ow: Math.floor(d.w / k) };
}

function check(op: string, d: PoolDims, k: number): { oh: number; ow: number } {
  for (const [key, v] of Object.entries(d)) {
    assertShape(Number.isInteger(v) && v >= 1, `${op}: ${key} = ${v} must be a positive integer`);
  }
  assertShape(Number.isInteger(k) && k >= 1, `${op}: window ${k} must be a positive integer`);
  const o = pooledSize(d, k);
  assertShape(o.oh >= 1 && o.ow >= 1, `${op}: input ${d.h}×${d.w} is smaller than the ${k}×${k} window`);
  return o;
}

function expectLength(op: string, t: Tensor, n: number, what: string): void {
  assertShape(t.length === n, `${op}: ${t.name} has ${t.length} elements, expected ${n} (${what})`);
}

function dispatch(gpu: Gpu, entry: string, d: PoolDims, o: { oh: number; ow: number }, k: number, count: number,
  a: Tensor, b: Tensor, out: Tensor): Dispatch {
  const params = createUniform(gpu, `${entry}-params`, PARAMS, { count, h: d.h, w: d.w, oh: o.oh, ow: o.ow, k });
  return makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG }, label: `${entry}(${out.name})`,
    bindings: [{ read: a }, { read: b }, { write: out }, { uniform: params }],
    workgroups: grid1d(count, WG),
  });
}

const inShape = (d: PoolDims) => `N·C·H·W = ${d.n}·${d.c}·${d.h}·${d.w}`;
const outShape = (d: PoolDims, o: { oh: number; ow: number }) => `N·C·OH·OW = ${d.n}·${d.c}·${o.oh}·${o.ow}`;

function pooled(op: string, d: PoolDims, k: number, x: Tensor, y: Tensor): { oh: number; ow: number } {
  const o = check(op, d, k);
  expectLength(op, x, d.n * d.c * d.h * d.w, inShape(d));
  expectLength(op, y, d.n * d.c * o.oh * o.ow, outShape(d, o));
  return o;
}

/** y = max over 2×2 windows, stride 2. */
export function maxpool2x2Forward(gpu: Gpu, d: PoolDims, x: Tensor, y: Tensor): Dispatch {
  const o = pooled('maxpool2x2_forward', d, 2, x, y);
  return dispatch(gpu, 'maxpool2x2_forward', d, o, 2, y.length, x, x, y);
}

/** dx = dy routed to each window's first maximum of x; every other dx is 0. */
export function maxpool2x2Backward(gpu: Gpu, d: PoolDims, x: Tensor, dy: Tensor, dx: Tensor): Dispatch {
  const o = pooled('maxpool2x2_backward', d, 2, dx, dy);
  expectLength('maxpool2x2_backward', x, dx.length, `forward input, ${inShape(d)}`);
  return dispatch(gpu, 'maxpool2x2_backward', d, o, 2, dy.length, x, dy, dx);
}

/** y = mean over k×k windows, stride k. */
export function avgpoolForward(gpu: Gpu, d: PoolDims, k: number, x: Tensor, y: Tensor): Dispatch {
  const o = pooled('avgpool_forward', d, k, x, y);
  return dispatch(gpu, 'avgpool_forward', d, o, k, y.length, x, x, y);
}

/** dx = dy / k² over each window; 0 for rows/columns no window covers. */
export function avgpoolBackward(gpu: Gpu, d: PoolDims, k: number, dy: Tensor, dx: Tensor): Dispatch {
  const o = pooled('avgpool_backward', d, k, dx, dy);
  return dispatch(gpu, 'avgpool_backward', d, o, k, dx.length, dy, dy, dx);
}

function globalPooled(op: string, d: PoolDims, x: Tensor, y: Tensor): void {
  check(op, d, 1);
  expectLength(op, x, d.n * d.c * d.h * d.w, inShape(d));
  expectLength(op, y, d.n * d.c, `N·C = ${d.n}·${d.c}`);
}

/** [N, C, H, W] → [N, C]: mean over each plane. */
export function globalAvgpoolForward(gpu: Gpu, d: PoolDims, x: Tensor, y: Tensor): Dispatch {
  globalPooled('global_avgpool_forward', d, x, y);
  return dispatch(gpu, 'global_avgpool_forward', d, { oh: 1, ow: 1 }, d.h * d.w, y.length, x, x, y);
}

/** dx = dy / (H·W), broadcast over each plane. */
export function globalAvgpoolBackward(gpu: Gpu, d: PoolDims, dy: Tensor, dx: Tensor): Dispatch {
  globalPooled('global_avgpool_backward', d, dx, dy);
  return dispatch(gpu, 'global_avgpool_backward', d, { oh: 1, ow: 1 }, d.h * d.w, dx.length, dy, dy, dx);
}
