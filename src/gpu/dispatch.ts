// A Dispatch is one compute-shader invocation with everything bound: created once when a model
// or test is built, then encoded again every step at the cost of three API calls. Kernel wrappers
// in src/kernels/ return Dispatches; the Program (program.ts) sequences them.
import type { Gpu } from './gpu.ts';
import type { Tensor } from './tensor.ts';
import { ALIGN_ELEMS } from './tensor.ts';
import type { Uniform } from './uniforms.ts';

export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** Floating-point operations of one run, where the kernel wrapper states them (`earlyphase profile` GFLOP/s). */
  readonly flops?: number;
  /**
   * Bytes of the tensors bound for reading plus those bound for writing (uniforms excluded; a
   * tensor bound twice counts once): the bound size, an estimate of the memory traffic, not a
   * measurement (a kernel may read a bound tensor partly or several times, and a read-write
   * tensor is counted once), unless the kernel wrapper states it (DispatchSpec.bytes).
   * `earlyphase profile` divides it by time for GB/s.
   */
  readonly bytes: number;
  /** What it was made from: a pack fuses its members' dispatches from these (src/gpu/fuse.ts); absent on a fused one. */
  readonly spec?: DispatchSpec;
}

/** A binding is a tensor read by the shader, a tensor written by it, or a uniform buffer. */
export type Binding =
  | { read: Tensor }
  | { write: Tensor }
  | { uniform: Uniform };

export interface DispatchSpec {
  shader: string;
  entry: string;
  constants?: Record<string, number>;
  bindings: readonly Binding[];
  workgroups: readonly [number, number, number];
  label?: string;
  /** Floating-point operations of one run (e.g. 2·M·N·K for a GEMM), where known. */
  flops?: number;
  /**
   * Bytes one run reads and writes, where the bound size says little (a kernel binding a whole
   * dataset to read one batch of it); default: the bound size (see Dispatch.bytes).
   */
  bytes?: number;
}

/** WebGPU's maxComputeWorkgroupsPerDimension default. */
export const MAX_GROUPS = 65535;

/** The buffer range a binding binds (a tensor's elements, at least one; a uniform's struct). */
export function bufferBinding(b: Binding): { buffer: GPUBuffer; offset: number; size: number } {
  if ('uniform' in b) return { buffer: b.uniform.buffer, offset: b.uniform.offset, size: b.uniform.size };
  const t = 'read' in b ? b.read : b.write;
  return { buffer: t.buffer, offset: t.offset * 4, size: Math.max(t.length, 1) * 4 };
}

export function makeDispatch(gpu: Gpu, spec: DispatchSpec): Dispatch {
  const kinds: GPUBufferBindingType[] = spec.bindings.map((b) =>
    'read' in b ? 'read-only-storage' : 'write' in b ? 'storage' : 'uniform');
  const pipeline = gpu.pipeline({ shader: spec.shader, entry: spec.entry, constants: spec.constants }, kinds);
  const label = spec.label ?? spec.entry;
  const entries: GPUBindGroupEntry[] = spec.bindings.map((b, binding) => {
    const t = 'read' in b ? b.read : 'write' in b ? b.write : null;
    if (t && t.offset % ALIGN_ELEMS !== 0) throw new Error(`${label}: tensor ${t.name} offset ${t.offset} is not 256-byte aligned`);
    return { binding, resource: bufferBinding(b) };
  });
  const [x, y, z] = spec.workgroups;
  for (const n of spec.workgroups) {
    if (!Number.isInteger(n) || n < 0 || n > MAX_GROUPS) throw new Error(`${label}: workgroup count ${n} out of range [0, ${MAX_GROUPS}]`);
  }
  const bindGroup = gpu.device.createBindGroup({ label: `${label}-bind`, layout: pipeline.getBindGroupLayout(0), entries });
  return { label, pipeline, bindGroup, workgroups: [x, y, z], bytes: spec.bytes ?? boundBytes(spec.bindings), ...(spec.flops !== undefined ? { flops: spec.flops } : {}), spec };
}

/** Bytes of the distinct tensors among `bindings` (a tensor bound twice, e.g. as an unused bias slot, counts once). */
function boundBytes(bindings: readonly Binding[]): number {
  const seen = new Map<GPUBuffer, Set<string>>();
  let bytes = 0;
  for (const b of bindings) {
    if ('uniform' in b) continue;
    const t = 'read' in b ? b.read : b.write;
    const key = `${t.offset}:${t.length}`;
    let keys = seen.get(t.buffer);
    if (!keys) seen.set(t.buffer, keys = new Set());
    if (keys.has(key)) continue;
    keys.add(key);
    bytes += t.length * 4;
  }
  return bytes;
}

/**
 * Workgroup grid for `n` independent items of `perGroup` each, folded into y when x would exceed
 * the 65,535 limit. Shaders recover the flat index as `wid.x + wid.y * nwg.x`.
 */
export function grid1d(n: number, perGroup: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / perGroup));
  if (groups <= MAX_GROUPS) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_GROUPS);
  return [Math.ceil(groups / y), y, 1];
}

export function encodeDispatches(pass: GPUComputePassEncoder, list: readonly Dispatch[]): void {
  for (const d of list) {
    if (d.workgroups[0] * d.workgroups[1] * d.workgroups[2] === 0) continue;
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
  }
}

/** Encodes and submits a list once and waits for it (tests and one-off work, not the training loop). */
export async function runDispatches(gpu: Gpu, list: readonly Dispatch[], label = 'run'): Promise<void> {
  gpu.checkAlive();
  gpu.device.pushErrorScope('validation');
  const enc = gpu.device.createCommandEncoder({ label });
  const pass = enc.beginComputePass({ label });
  encodeDispatches(pass, list);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
  const err = await gpu.device.popErrorScope();
  if (err) throw new Error(`${label}: WebGPU validation error: ${err.message}`);
  await gpu.device.queue.onSubmittedWorkDone();
  gpu.checkAlive();
}
