// A pruning mask lives in the same arena layout as the parameters (1 keep / 0 pruned), so the
// masked-SGD kernel can walk params, grads, momenta and mask with one index. Non-prunable tensors
// (biases, batch norm) are all 1 — the kernel multiplies by the mask everywhere, and a 1 there
// makes "not prunable" need no special case on the GPU. Padding is 0, like the weights' padding.
// On disk a mask is a safetensors file with one tensor per PRUNABLE parameter (OpenLTH's mask.pth
// has exactly the prunable layers), so a file can be checked against a model by name and shape.
import { UserError } from '../errors.ts';
import { ALIGN_ELEMS, numel } from '../gpu/tensor.ts';
import { parameters, type ModelSpec } from '../nn/graph.ts';
import { decodeSafetensors, encodeSafetensors, expectTensors, SafetensorsError, type TensorInput, type TensorSpec } from '../io/safetensors.ts';

/** What Arena.layout() returns; plain data, so masks need no GPU. */
export type Layout = readonly { readonly name: string; readonly offset: number; readonly shape: readonly number[] }[];

export interface MaskTensor {
  name: string;
  offset: number;
  /** Elements (without padding). */
  size: number;
  shape: number[];
  prunable: boolean;
}

/** The layout joined with the model's parameter list; throws if they disagree (a programming error). */
export function maskTensors(spec: ModelSpec, layout: Layout): MaskTensor[] {
  const params = new Map(parameters(spec.layers).map((p) => [p.name, p]));
  if (layout.length !== params.size) {
    throw new Error(`${spec.name}: layout has ${layout.length} tensors, the model has ${params.size} parameters`);
  }
  return layout.map(({ name, offset, shape }) => {
    const p = params.get(name);
    if (!p) throw new Error(`${spec.name}: layout tensor ${name} is not a parameter of the model`);
    return { name, offset, size: numel(shape), shape: [...shape], prunable: p.prunable };
  });
}

/** Elements an arena with this layout holds, padding included (Arena.elements). */
export function layoutElements(layout: Layout): number {
  let end = 0;
  for (const e of layout) end = Math.max(end, e.offset + Math.ceil(numel(e.shape) / ALIGN_ELEMS) * ALIGN_ELEMS);
  return end;
}

/** Level 0's mask: every weight kept. */
export function denseMask(spec: ModelSpec, layout: Layout): Float32Array {
  const m = new Float32Array(layoutElements(layout));
  for (const t of maskTensors(spec, layout)) m.fill(1, t.offset, t.offset + t.size);
  return m;
}

/**
 * Throws a UserError unless `mask` is a well-formed mask for this layout: right length, 0/1 on
 * prunable tensors, 1 on the rest. Cheap (one pass), so every consumer can afford to call it.
 */
export function checkMask(spec: ModelSpec, layout: Layout, mask: Float32Array, what = 'mask'): MaskTensor[] {
  const tensors = maskTensors(spec, layout);
  const n = layoutElements(layout);
  if (mask.length !== n) throw new UserError(`${what}: has ${mask.length} elements, ${spec.name}'s parameter layout has ${n}`);
  for (const t of tensors) {
    for (let i = t.offset; i < t.offset + t.size; i++) {
      const v = mask[i]!;
      if (t.prunable ? v !== 0 && v !== 1 : v !== 1) {
        throw new UserError(`${what}: ${t.name}[${i - t.offset}] is ${v}; expected ${t.prunable ? '0 or 1' : '1 (not prunable)'}`);
      }
    }
  }
  return tensors;
}

/**
 * Remaining / total over the prunable tensors — OpenLTH's Mask.density, whose mask holds every
 * prunable tensor including the ones pruning ignores (so LeNet's fc.weight counts, always dense).
 * `exclude` drops named tensors from both counts (e.g. to see the density of what IMP prunes).
 */
export function density(spec: ModelSpec, layout: Layout, mask: Float32Array, exclude: readonly string[] = []): number {
  let total = 0, kept = 0;
  for (const t of maskTensors(spec, layout)) {
    if (!t.prunable || exclude.includes(t.name)) continue;
    total += t.size;
    for (let i = t.offset; i < t.offset + t.size; i++) kept += mask[i]!;
  }
  return total === 0 ? 1 : kept / total;
}

export type MaskDtype = 'U8' | 'F32';

/** Mask → safetensors bytes, one tensor per prunable parameter. U8 by default (a quarter of F32's size). */
export function encodeMask(spec: ModelSpec, layout: Layout, mask: Float32Array, dtype: MaskDtype = 'U8', metadata: Record<string, string> = {}): Uint8Array {
  const tensors = checkMask(spec, layout, mask);
  const out = new Map<string, TensorInput>();
  for (const t of tensors) {
    if (!t.prunable) continue;
    const view = mask.subarray(t.offset, t.offset + t.size);
    out.set(t.name, { shape: t.shape, data: dtype === 'U8' ? Uint8Array.from(view) : view.slice() });
  }
  return encodeSafetensors(out, metadata);
}

/**
 * Safetensors bytes → mask in the arena layout. Strict: `file` (the path) starts every message;
 * missing or unexpected names, wrong shapes, dtypes other than F32/U8 and values other than 0/1
 * are all rejected before anything is returned.
 */
export function decodeMask(spec: ModelSpec, layout: Layout, bytes: Uint8Array, file: string): Float32Array {
  const st = decodeSafetensors(bytes, file);
  const tensors = maskTensors(spec, layout);
  const expected = new Map<string, TensorSpec>();
  for (const t of tensors) if (t.prunable) expected.set(t.name, { shape: t.shape });
  expectTensors(st, expected, file);
  const mask = denseMask(spec, layout);
  for (const t of tensors) {
    if (!t.prunable) continue;
    const { dtype, data } = st.tensors.get(t.name)!;
    if (dtype !== 'U8' && dtype !== 'F32') throw new SafetensorsError(`${file}: mask tensor ${t.name} has dtype ${dtype}; expected U8 or F32`);
    for (let i = 0; i < t.size; i++) {
      const v = data[i]!;
      if (v !== 0 && v !== 1) throw new SafetensorsError(`${file}: mask tensor ${t.name}[${i}] is ${v}; a mask holds only 0 and 1`);
      mask[t.offset + i] = v;
    }
  }
  return mask;
}
