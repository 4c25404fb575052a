// Uniform structs are written in exactly one place per kernel: a list of [name, type] fields in
// the same order as the WGSL struct. Every field is 4 bytes (u32/i32/f32), so the WGSL struct has
// no implicit padding as long as it only holds scalars; the buffer is padded to 16 bytes.
import type { Gpu } from './gpu.ts';
import { align } from './gpu.ts';

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

export function createUniform(gpu: Gpu, label: string, fields: readonly UniformField[], values: Record<string, number>): GPUBuffer {
  const data = packUniform(fields, values);
  const b = gpu.buffer(label, data.byteLength, 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */);
  gpu.device.queue.writeBuffer(b, 0, data);
  return b;
}
