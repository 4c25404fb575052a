// Uniform structs are written in exactly one place per kernel: a list of [name, type] fields in
// the same order as the WGSL struct. Every field is 4 bytes (u32/i32/f32), so the WGSL struct has
// no implicit padding as long as it only holds scalars; the buffer is padded to 16 bytes.
import type { Gpu } from './gpu.ts';
import { align } from './align.ts';

export type UniformField = readonly [name: string, type: 'u32' | 'i32' | 'f32'];

export function packUniform(fields: readonly UniformField[], values: Record<string, number>): ArrayBuffer {
  const buf = new ArrayBuffer(align(fields.length * 4, 16));
  const view = new DataView(buf);
  fields.forEach(([name, type], i) => {
    const v = values[name];
    if (v === undefined || !Number.isFinite(v)) throw new Error(`uniform field ${name} is ${v}`);
    if (type === 'f32') view.setFloat32(i * 4, v, true);
    else if (type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform field ${name}=${v} is not a u32`);
      view.setUint32(i * 4, v, true);
    } else view.setInt32(i * 4, v, true);
  });
  const extra = Object.keys(values).filter((k) => !fields.some(([n]) => n === k));
  if (extra.length) throw new Error(`uniform values ${extra.join(', ')} are not fields of the struct`);
  return buf;
}

/**
 * A uniform struct in a buffer of its own, or in a pack member's slice of a slab (src/gpu/slabs.ts).
 * STORAGE usage too, so a member-fused kernel can read every member's copy as one array.
 */
export interface Uniform {
  readonly label: string;
  readonly buffer: GPUBuffer;
  /** Byte offset (256-aligned). */
  readonly offset: number;
  readonly size: number;
  /** Rewritten between steps (learning rate, batch slice): members that agree now may not later. */
  readonly mutable: boolean;
  /** The bytes as created (what immutable uniforms hold for good). */
  readonly bytes: Uint8Array;
}

export function createUniform(gpu: Gpu, label: string, fields: readonly UniformField[], values: Record<string, number>, o: { mutable?: boolean } = {}): Uniform {
  const data = packUniform(fields, values);
  const { buffer, offset } = gpu.slice(label, data.byteLength, 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */ | 0x80 /* STORAGE */);
  gpu.device.queue.writeBuffer(buffer, offset, data);
  return { label, buffer, offset, size: data.byteLength, mutable: o.mutable ?? false, bytes: new Uint8Array(data) };
}

/** Rewrites part of a mutable uniform; ordered before the next submit. */
export function writeUniform(gpu: Gpu, u: Uniform, byteOffset: number, data: Float32Array | Uint32Array): void {
  if (!u.mutable) throw new Error(`uniform ${u.label} was created immutable`);
  gpu.device.queue.writeBuffer(u.buffer, u.offset + byteOffset, data.buffer, data.byteOffset, data.byteLength);
}
