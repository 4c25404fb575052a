// The conv weights repacked for the forward and input-gradient kernels (shaders/conv2d_pack.wgsl):
// blocks of CB channels per tap as two aligned vec4s. One dispatch repacks a list of weight tensors
// ("segments", a row each in a table the shader reads): a compiled model repacks all of its
// convolutions once per step in it (src/nn/compile-builder.ts) instead of one dispatch per
// convolution and direction; a conv2d call without prepacked weights repacks its own (one segment).
import type { Gpu } from '../gpu/gpu.ts';
import { type Dispatch, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';
import type { Conv2dShape } from './conv2d.ts';
import { CONV2D_PARAMS } from './conv2d-params.ts';

/** Channels per block (the shaders' `CB`: two vec4 accumulators). */
export const CB = 8;
/** u32 fields per table row (the shader's SEG_FIELDS). */
const SEG_FIELDS = 8;
const MAX_GROUPS = 65535;

/** Elements of the repacked weights for the forward (blocks of output channels) or input-gradient kernel. */
export function conv2dPackedLength(s: Conv2dShape, blocksOfCout: boolean): number {
  const [width, reduced] = blocksOfCout ? [s.cout, s.cin] : [s.cin, s.cout];
  return Math.ceil(width / CB) * CB * reduced * s.kh * s.kw;
}

/** One weight tensor to repack: `packed` (conv2dPackedLength elements) receives `weight` [Cout, Cin, kh, kw]. */
export interface PackSegment { s: Conv2dShape; weight: Tensor; packed: Tensor; blocksOfCout: boolean }

/**
 * The table rows (see the shader) and the vec4s to write, for weights bound from element `weightBase`
 * and packed outputs bound from `packedBase` of their buffers.
 */
export function packTable(segments: readonly PackSegment[], weightBase: number, packedBase: number): { table: Uint32Array; vec4s: number } {
  const table = new Uint32Array(segments.length * SEG_FIELDS);
  let start = 0;
  segments.forEach((g, i) => {
    table.set([start, g.weight.offset - weightBase, g.packed.offset - packedBase, g.s.cout, g.s.cin, g.s.kh * g.s.kw, g.blocksOfCout ? 1 : 0, 0], i * SEG_FIELDS);
    start += conv2dPackedLength(g.s, g.blocksOfCout) / 4;
  });
  return { table, vec4s: start };
}

/** [min offset, max end) of tensors in one buffer, as one tensor to bind. */
function span(ts: readonly Tensor[], name: string, what: string): Tensor {
  const buffer = ts[0]!.buffer;
  assertShape(ts.every((t) => t.buffer === buffer), `conv2d_pack_segments: the ${what} are not all in one buffer`);
  const offset = Math.min(...ts.map((t) => t.offset)), end = Math.max(...ts.map((t) => t.offset + t.length));
  return { name, buffer, offset, length: end - offset, shape: [end - offset] };
}

/**
 * One dispatch repacking every segment. The weights must lie in one buffer (an arena), the packed
 * outputs in another; each binding spans its tensors, so the caller keeps the spans within the
 * device's binding size. The table is a small buffer of its own (collected with the dispatch's owner).
 */
export function conv2dPack(gpu: Gpu, segments: readonly PackSegment[], wg: number, label: string): Dispatch {
  const entry = 'conv2d_pack_segments';
  assertShape(segments.length > 0, `${entry}: no segments`);
  for (const g of segments) {
    assertShape(g.weight.length === g.s.cout * g.s.cin * g.s.kh * g.s.kw, `${entry}: ${g.weight.name} has ${g.weight.length} elements, expected [${g.s.cout}, ${g.s.cin}, ${g.s.kh}, ${g.s.kw}]`);
    assertShape(g.packed.length >= conv2dPackedLength(g.s, g.blocksOfCout), `${entry}: ${g.packed.name} has ${g.packed.length} elements, needs ${conv2dPackedLength(g.s, g.blocksOfCout)}`);
  }
  const weights = span(segments.map((g) => g.weight), `${label}.weights`, 'weights');
  const packed = span(segments.map((g) => g.packed), label, 'packed outputs');
  const { table, vec4s } = packTable(segments, weights.offset, packed.offset);
  const rows = createTensor(gpu, `${label}.table`, [table.length], table);
  const uniform = createUniform(gpu, `${entry}-params`, CONV2D_PARAMS, {
    ...Object.fromEntries(CONV2D_PARAMS.map(([f]) => [f, 0])), chunk: segments.length, count: vec4s,
  });
  const blocks = Math.max(1, Math.ceil(vec4s / wg)), y = Math.ceil(blocks / MAX_GROUPS);
  return makeDispatch(gpu, {
    shader: 'conv2d_pack.wgsl', entry, constants: { WG: wg }, label: `${entry}(${label})`,
    bindings: [{ read: weights }, { write: packed }, { uniform }, { read: rows }],
    workgroups: [Math.ceil(blocks / y), y, 1],
  });
}
