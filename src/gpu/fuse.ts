// One dispatch for op i of every pack member, where their bindings allow it: the member index
// becomes the grid's outer z dimension (src/gpu/memberize.ts rewrites the kernel), so a pack of K
// costs one dispatch per op, not K. Members built in a SlabScope (src/gpu/slabs.ts) have their
// copies of each tensor and uniform at a fixed stride in one buffer, which is what this needs; an
// op whose bindings do not line up (members with datasets of their own, a grid too deep for the
// 65,535 limit, a binding range over the device's limit) stays one dispatch per member, in member
// order, and the reason is reported.
import type { Gpu } from './gpu.ts';
import { bufferBinding, MAX_GROUPS, type Binding, type Dispatch, type DispatchSpec } from './dispatch.ts';
import { memberize, type MemberLayout } from './memberize.ts';
import type { Uniform } from './uniforms.ts';

export interface FusedList {
  dispatches: Dispatch[];
  /** Ops that run as one dispatch for every member. */
  fused: number;
  /** Ops that run as one dispatch per member, and why. */
  unfused: { label: string; reason: string }[];
}

class Refused extends Error {}

/** Op i of every member, fused where possible; each member's own order of ops is unchanged. */
export function fuseMembers(gpu: Gpu, lists: readonly (readonly Dispatch[])[]): FusedList {
  const out: FusedList = { dispatches: [], fused: 0, unfused: [] };
  const n = lists[0]?.length ?? 0;
  const spare = spares(gpu);
  lists.forEach((l, k) => { if (l.length !== n) throw new Error(`pack member ${k} has ${l.length} dispatches per step, member 0 ${n}`); });
  for (let i = 0; i < n; i++) {
    const ds = lists.map((l) => l[i]!);
    if (ds.length === 1) { out.dispatches.push(ds[0]!); continue; }
    try {
      out.dispatches.push(fuseOp(gpu, ds, spare));
      out.fused++;
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      out.dispatches.push(...ds);
      out.unfused.push({ label: ds[0]!.label, reason: e.message });
    }
  }
  return out;
}

type Placed = ReturnType<typeof bufferBinding>;

/** The byte stride between consecutive members' copies (0: one copy shared by all). */
function memberStride(ps: readonly Placed[], what: string): number {
  const stride = ps[1]!.offset - ps[0]!.offset;
  ps.forEach((p, k) => {
    if (p.buffer !== ps[0]!.buffer) throw new Refused(`${what}: members' copies are in different buffers`);
    if (p.size !== ps[0]!.size) throw new Refused(`${what}: members' copies differ in size`);
    if (p.offset !== ps[0]!.offset + k * stride) throw new Refused(`${what}: members' copies are not at a fixed stride`);
  });
  if (stride < 0 || (stride > 0 && stride < ps[0]!.size)) throw new Refused(`${what}: members' copies overlap`);
  return stride;
}

function sameShape(a: DispatchSpec, b: DispatchSpec): boolean {
  return a.shader === b.shader && a.entry === b.entry && JSON.stringify(a.constants ?? {}) === JSON.stringify(b.constants ?? {})
    && a.workgroups.every((w, i) => w === b.workgroups[i]) && a.bindings.length === b.bindings.length
    && a.bindings.every((x, i) => Object.keys(x)[0] === Object.keys(b.bindings[i]!)[0]);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function fuseOp(gpu: Gpu, ds: readonly Dispatch[], spare: Spares): Dispatch {
  const k = ds.length;
  const specs = ds.map((d) => {
    if (!d.spec) throw new Refused('already fused');
    return d.spec;
  });
  const s0 = specs[0]!;
  if (!specs.every((s) => sameShape(s0, s))) throw new Refused('members run different kernels or grids');
  const [x, y, z] = s0.workgroups;
  if (x * y * z === 0) return ds[0]!; // nothing to run for anyone
  if (z * k > MAX_GROUPS) throw new Refused(`grid z ${z}×${k} members exceeds ${MAX_GROUPS}`);

  const storageStrides = new Map<number, number>(), uniformSlots = new Map<number, number>();
  const kinds: GPUBufferBindingType[] = [];
  const entries: GPUBindGroupEntry[] = s0.bindings.map((b0, binding) => {
    const ps = specs.map((s) => bufferBinding(s.bindings[binding]!)); // where member k's copy is, in bytes
    if ('uniform' in b0) {
      const us = specs.map((s) => (s.bindings[binding] as { uniform: Uniform }).uniform);
      // Shape-only (immutable and equal in every member): member 0's copy serves all, wherever the others' are.
      const shared = !b0.uniform.mutable && us.every((u) => equalBytes(u.bytes, b0.uniform.bytes));
      const stride = shared ? 0 : memberStride(ps, `binding ${binding}`);
      if (stride === 0) {
        kinds.push('uniform');
        return { binding, resource: { buffer: ps[0]!.buffer, offset: ps[0]!.offset, size: ps[0]!.size } };
      }
      uniformSlots.set(binding, stride);
      kinds.push('read-only-storage');
      return { binding, resource: { buffer: ps[0]!.buffer, offset: ps[0]!.offset, size: k * stride } };
    }
    const stride = memberStride(ps, `binding ${binding}`);
    kinds.push('read' in b0 ? 'read-only-storage' : 'storage');
    if (stride > 0) storageStrides.set(binding, stride);
    const size = (k - 1) * stride + ps[0]!.size;
    if (size > gpu.device.limits.maxStorageBufferBindingSize) throw new Refused(`binding ${binding}: ${k} members' copies span ${size} bytes, over the device's binding limit`);
    return { binding, resource: { buffer: ps[0]!.buffer, offset: ps[0]!.offset, size } };
  });
  // A written binding all members share is only safe when each member is told where to write in it
  // (the loss's statistics: a slot per member in its uniform).
  const sharedWrite = s0.bindings.findIndex((b, i) => 'write' in b && !storageStrides.has(i));
  if (sharedWrite >= 0 && uniformSlots.size === 0) throw new Refused(`binding ${sharedWrite}: written by every member at the same place`);
  const aliases = mergeOverlaps(spare, s0.bindings, entries, kinds, gpu.device.limits.maxStorageBufferBindingSize);
  const layout: MemberLayout = { storageStrides, uniformSlots, aliases };
  const source = gpu.composed(s0.shader).code;
  let code: string;
  try {
    code = memberize(source, s0.entry, k, layout);
  } catch (e) {
    throw new Refused((e as Error).message);
  }
  const pipeline = gpu.pipeline({ shader: s0.shader, entry: s0.entry, constants: s0.constants, code }, kinds);
  const label = `${ds[0]!.label}×${k}`;
  const bindGroup = gpu.device.createBindGroup({ label: `${label}-bind`, layout: pipeline.getBindGroupLayout(0), entries });
  const d0 = ds[0]!;
  return {
    label, pipeline, bindGroup, workgroups: [x, y, z * k], bytes: ds.reduce((n, d) => n + d.bytes, 0),
    ...(d0.flops !== undefined ? { flops: d0.flops * k } : {}),
  };
}

/**
 * 16 bytes of their own per binding number, for bindings whose data is read through another one;
 * one buffer per fused list, so it lives and dies with the pack that owns the list's buffers.
 */
type Spares = (binding: number) => GPUBufferBinding;
function spares(gpu: Gpu): Spares {
  let b: GPUBuffer | null = null;
  return (binding) => {
    b ??= gpu.device.createBuffer({ label: 'fused-unused-bindings', size: 256 * 16, usage: 0x80 /* STORAGE */ });
    return { buffer: b, offset: 256 * binding, size: 16 };
  };
}

/**
 * K members' copies of two tensors of one arena (running mean and variance, a weight's and a
 * bias's gradient) interleave, so their fused ranges overlap, and WebGPU refuses overlapping
 * ranges of one buffer in one dispatch when one is written. Such a group is bound once, over the
 * union of its ranges, at its lowest binding (read-write if any of them writes); the others read
 * and write through it at their byte offsets and get an unused spare range. Edits `entries` and
 * `kinds` in place.
 */
function mergeOverlaps(spare: Spares, bindings: readonly Binding[], entries: GPUBindGroupEntry[], kinds: GPUBufferBindingType[],
  limit: number): Map<number, { base: number; bytes: number }> {
  const range = (i: number) => entries[i]!.resource as GPUBufferBinding;
  const storage = bindings.map((b, i) => ('uniform' in b ? -1 : i)).filter((i) => i >= 0);
  const group = storage.map((i) => i); // union-find over binding numbers
  const find = (i: number): number => (group[storage.indexOf(i)] === i ? i : find(group[storage.indexOf(i)]!));
  for (const a of storage) {
    for (const b of storage) {
      if (b <= a) continue;
      const ra = range(a), rb = range(b);
      if (ra.buffer !== rb.buffer) continue;
      const overlap = ra.offset! < rb.offset! + rb.size! && rb.offset! < ra.offset! + ra.size!;
      if (overlap && (kinds[a] === 'storage' || kinds[b] === 'storage')) group[storage.indexOf(find(b))] = find(a);
    }
  }
  const aliases = new Map<number, { base: number; bytes: number }>();
  for (const base of storage) {
    const members = storage.filter((i) => find(i) === base);
    if (members.length < 2 || find(base) !== base) continue;
    const start = Math.min(...members.map((i) => range(i).offset!));
    const end = Math.max(...members.map((i) => range(i).offset! + range(i).size!));
    if (end - start > limit) throw new Refused(`bindings ${members.join(', ')}: their members' copies span ${end - start} bytes, over the device's binding limit`);
    const writes = members.some((i) => kinds[i] === 'storage');
    for (const i of members) aliases.set(i, { base, bytes: range(i).offset! - start });
    const buffer = range(base).buffer;
    for (const i of members) if (i !== base) entries[i] = { binding: i, resource: spare(i) };
    entries[base] = { binding: base, resource: { buffer, offset: start, size: end - start } };
    if (writes) kinds[base] = 'storage';
  }
  return aliases;
}
