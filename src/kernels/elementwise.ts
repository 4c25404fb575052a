// ReLU and residual add. Backward of the add is the identity on both inputs, so it needs no
// kernel; add_forward doubles as the gradient sum where a residual path forks.
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'elementwise.wgsl';
const WG = 256;
const PARAMS = [['n', 'u32']] as const;

function sameLength(op: string, ...ts: Tensor[]): number {
  const n = ts[0]!.length;
  for (const t of ts) assertShape(t.length === n, `${op}: ${t.name} has ${t.length} elements, expected ${n} (same as ${ts[0]!.name})`);
  return n;
}

function binary(gpu: Gpu, entry: string, a: Tensor, b: Tensor, out: Tensor): Dispatch {
  const n = sameLength(entry, a, b, out);
  return makeDispatch(gpu, {
    shader: SHADER, entry, constants: { WG }, label: `${entry}(${out.name})`,
    bindings: [{ read: a }, { read: b }, { write: out }, { uniform: createUniform(gpu, `${entry}-params`, PARAMS, { n }) }],
    workgroups: grid1d(n, WG),
  });
}

export function reluForward(gpu: Gpu, x: Tensor, y: Tensor): Dispatch {
  return binary(gpu, 'relu_forward', x, x, y);
}

/** dx = dy · [x > 0]; x is the forward input. */
export function reluBackward(gpu: Gpu, x: Tensor, dy: Tensor, dx: Tensor): Dispatch {
  return binary(gpu, 'relu_backward', x, dy, dx);
}

export function add(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor): Dispatch {
  return binary(gpu, 'add_forward', a, b, out);
}

/** out = relu(a + b) in one pass; its backward is reluBackward with x = out (out > 0 exactly where a + b > 0). */
export function addRelu(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor): Dispatch {
  return binary(gpu, 'add_relu_forward', a, b, out);
}

/** out[i] = src[indices[i]]; `indices` holds u32 bits (see indexTensorData), each < src.length. */
export function gather(gpu: Gpu, src: Tensor, indices: Tensor, out: Tensor): Dispatch {
  const n = sameLength('gather_forward', indices, out);
  return makeDispatch(gpu, {
    shader: SHADER, entry: 'gather_forward', constants: { WG }, label: `gather_forward(${src.name} → ${out.name})`,
    bindings: [{ read: src }, { read: indices }, { write: out }, { uniform: createUniform(gpu, 'gather_forward-params', PARAMS, { n }) }],
    workgroups: grid1d(n, WG),
  });
}

/** Host data for gather's index tensor: the indices as u32 bits, range-checked against `length`. */
export function indexTensorData(indices: readonly number[], length: number): Uint32Array {
  for (const i of indices) assertShape(Number.isInteger(i) && i >= 0 && i < length, `gather: index ${i} outside [0, ${length})`);
  return Uint32Array.from(indices);
}
