// Telemetry reductions: Σx, Σx², Σ|x|, Σa·b, Σ(a−b)² and #{i : sign(a_i) ≠ sign(b_i)} over a tensor slice, each
// written into one element of an output tensor, so any number of them fill one buffer that is
// read back once. Two dispatches each (partials, then final; see shaders/reduce.wgsl); the
// partials scratch is allocated here once and reused every time the dispatches are encoded.
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import { type Dispatch, grid1d, makeDispatch } from '../gpu/dispatch.ts';
import { assertShape } from '../gpu/errors.ts';
import { createTensor, type Tensor } from '../gpu/tensor.ts';
import { createUniform } from '../gpu/uniforms.ts';

const SHADER = 'reduce.wgsl';

/**
 * Workgroup size and elements per thread. Every workgroup pays a fixed cost (its barrier tree),
 * which is large on CPU drivers: at n = 2^24 the 'cpu' shape runs 3× faster than the 'gpu' one
 * on lavapipe and 6–8× on SwiftShader. On a real GPU smaller chunks keep every SM busy (that
 * shape is the textbook one, not yet measured on a GPU).
 */
const TUNING: Record<AdapterClass, { WG: number; ITEMS: number }> = {
  cpu: { WG: 64, ITEMS: 512 },
  gpu: { WG: 256, ITEMS: 32 },
};
const PARAMS = [['n', 'u32'], ['groups', 'u32'], ['index', 'u32']] as const;

// Every wrapper takes an optional `variant` (default: the adapter's class) so tests can run both.
export interface Reduction {
  /** Encode both, in order, in the same pass (or consecutive passes). */
  readonly dispatches: readonly Dispatch[];
  /** Frees the partials scratch buffer. */
  destroy(): void;
}

type Op = 'sum' | 'sumsq' | 'sum_abs' | 'dot' | 'dist_sq' | 'sign_diff';

function reduction(gpu: Gpu, op: Op, a: Tensor, b: Tensor, out: Tensor, index: number, variant: AdapterClass): Reduction {
  const entry = `reduce_${op}`;
  assertShape(b.length === a.length, `${entry}: ${b.name} has ${b.length} elements, expected ${a.length} (same as ${a.name})`);
  assertShape(Number.isInteger(index) && index >= 0 && index < out.length,
    `${entry}: ${out.name} has ${out.length} elements, index ${index} needs at least ${index + 1}`);
  const n = a.length;
  const constants = TUNING[variant];
  const chunk = constants.WG * constants.ITEMS;
  const groups = Math.max(1, Math.ceil(n / chunk));
  const partials = createTensor(gpu, `${entry}-partials(${a.name})`, [groups]);
  const uniform = createUniform(gpu, `${entry}-params`, PARAMS, { n, groups, index });
  const final = op === 'sign_diff' ? 'reduce_u32_final' : 'reduce_f32_final';
  return {
    dispatches: [
      makeDispatch(gpu, {
        shader: SHADER, entry: `${entry}_partials`, constants, label: `${entry}_partials(${a.name})`,
        bindings: [{ read: a }, { read: b }, { uniform }, { write: partials }],
        workgroups: grid1d(n, chunk),
      }),
      makeDispatch(gpu, {
        shader: SHADER, entry: final, constants, label: `${entry}_final(${a.name} → ${out.name}[${index}])`,
        bindings: [{ read: partials }, { write: out }, { uniform }],
        workgroups: [1, 1, 1],
      }),
    ],
    destroy: () => partials.buffer.destroy(),
  };
}

/** out[index] = Σ x_i (f32). */
export function reduceSum(gpu: Gpu, x: Tensor, out: Tensor, index: number, variant = gpu.kernels): Reduction {
  return reduction(gpu, 'sum', x, x, out, index, variant);
}

/** out[index] = Σ x_i² (f32). */
export function reduceSumSq(gpu: Gpu, x: Tensor, out: Tensor, index: number, variant = gpu.kernels): Reduction {
  return reduction(gpu, 'sumsq', x, x, out, index, variant);
}

/** out[index] = Σ |x_i| (f32). */
export function reduceSumAbs(gpu: Gpu, x: Tensor, out: Tensor, index: number, variant = gpu.kernels): Reduction {
  return reduction(gpu, 'sum_abs', x, x, out, index, variant);
}

/** out[index] = Σ (a_i − b_i)² (f32), summed directly (no cancellation when a ≈ b). */
export function reduceDistSq(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, index: number, variant = gpu.kernels): Reduction {
  return reduction(gpu, 'dist_sq', a, b, out, index, variant);
}

/** out[index] = Σ a_i·b_i (f32). */
export function reduceDot(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, index: number, variant = gpu.kernels): Reduction {
  return reduction(gpu, 'dot', a, b, out, index, variant);
}

/**
 * out[index] = #{i : sign(a_i) ≠ sign(b_i)}, sign ∈ {−1, 0, +1}, stored as u32 bits (exact for
 * any length; read the element through a Uint32Array view of the downloaded bytes).
 */
export function reduceSignDiff(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, index: number, variant = gpu.kernels): Reduction {
  return reduction(gpu, 'sign_diff', a, b, out, index, variant);
}
