// A Tensor is a named, 256-byte-aligned slice of a GPU buffer. Parameters, gradients, momenta
// and masks are slices of a few large buffers (an Arena), so one dispatch can update the whole
// model and one copy can checkpoint it.
import type { Gpu } from './gpu.ts';
import { align } from './align.ts';
import { ShapeError } from './errors.ts';

export interface Tensor {
  readonly name: string;
  readonly buffer: GPUBuffer;
  /** Offset in elements (4-byte words); offset*4 is a multiple of the storage offset alignment. */
  readonly offset: number;
  /** Length in elements. */
  readonly length: number;
  readonly shape: readonly number[];
}

// Usage bits are fixed by the WebGPU spec; spelled out so this module does not depend on the
// GPUBufferUsage global being installed before it is imported (Dawn-node installs it late).
export const STORAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08 /* COPY_DST */;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Elements per alignment unit: WebGPU's minStorageBufferOffsetAlignment is 256 bytes everywhere we run. */
export const ALIGN_ELEMS = 64;

/**
 * Lays out named tensors in one buffer. Call `add` for every tensor, then `build(gpu)`.
 * The layout (names, offsets, shapes) is plain data, so two arenas built from the same list
 * (params, grads, momenta, masks) have identical offsets and one kernel can walk all four.
 */
export class Arena {
  private readonly entries: { name: string; offset: number; shape: number[] }[] = [];
  private size = 0;
  private built: GPUBuffer | null = null;
  /** Element offset of the arena in its buffer (non-zero for a pack member's slice of a slab). */
  private base = 0;

  constructor(readonly label: string) {}

  add(name: string, shape: readonly number[]): void {
    if (this.built) throw new Error(`arena ${this.label} is already built`);
    if (this.entries.some((e) => e.name === name)) throw new Error(`arena ${this.label}: duplicate tensor ${name}`);
    const n = numel(shape);
    if (!Number.isInteger(n) || n <= 0) throw new ShapeError(`arena ${this.label}: tensor ${name} has bad shape [${shape}]`);
    this.entries.push({ name, offset: this.size, shape: [...shape] });
    this.size += align(n, ALIGN_ELEMS);
  }

  /** Total elements including alignment padding (padding is zero and stays zero). */
  get elements(): number { return this.size; }

  get names(): string[] { return this.entries.map((e) => e.name); }

  layout(): { name: string; offset: number; shape: number[] }[] {
    return this.entries.map((e) => ({ ...e, shape: [...e.shape] }));
  }

  build(gpu: Gpu, usage = STORAGE): GPUBuffer {
    if (!this.built) {
      const s = gpu.slice(this.label, Math.max(this.size, ALIGN_ELEMS) * 4, usage);
      this.built = s.buffer;
      this.base = s.offset / 4;
    }
    return this.built;
  }

  get buffer(): GPUBuffer {
    if (!this.built) throw new Error(`arena ${this.label} not built yet`);
    return this.built;
  }

  get(name: string): Tensor {
    const e = this.entries.find((x) => x.name === name);
    if (!e) throw new Error(`arena ${this.label} has no tensor ${name}`);
    return { name: `${this.label}.${name}`, buffer: this.buffer, offset: this.base + e.offset, length: numel(e.shape), shape: e.shape };
  }

  /** The whole arena as one flat tensor (for whole-model kernels like masked SGD). */
  all(): Tensor {
    return { name: this.label, buffer: this.buffer, offset: this.base, length: this.size, shape: [this.size] };
  }
}

/** A standalone tensor in its own buffer (activations, test inputs), or a pack member's slice of a slab (src/gpu/slabs.ts). */
export function createTensor(gpu: Gpu, name: string, shape: readonly number[], data?: Float32Array | Uint32Array | Int32Array): Tensor {
  const length = numel(shape);
  if (data && data.length !== length) throw new ShapeError(`${name}: data has ${data.length} elements, shape [${shape}] needs ${length}`);
  const { buffer, offset } = gpu.slice(name, Math.max(length, 1) * 4, STORAGE);
  if (data) gpu.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  return { name, buffer, offset: offset / 4, length, shape: [...shape] };
}

export function upload(gpu: Gpu, t: Tensor, data: Float32Array | Uint32Array | Int32Array): void {
  if (data.length !== t.length) throw new ShapeError(`${t.name}: upload of ${data.length} elements into tensor of ${t.length}`);
  gpu.device.queue.writeBuffer(t.buffer, t.offset * 4, data.buffer, data.byteOffset, data.byteLength);
}

/** Reads a tensor back (blocking: for tests, checkpoints and end-of-run reports only, never per step). */
export async function download(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  const bytes = await downloadBytes(gpu, t.buffer, t.offset * 4, t.length * 4);
  return new Float32Array(bytes);
}

export async function downloadU32(gpu: Gpu, t: Tensor): Promise<Uint32Array> {
  return new Uint32Array(await downloadBytes(gpu, t.buffer, t.offset * 4, t.length * 4));
}

export async function downloadBytes(gpu: Gpu, buffer: GPUBuffer, byteOffset: number, byteLength: number): Promise<ArrayBuffer> {
  gpu.checkAlive();
  const size = align(Math.max(byteLength, 4), 4);
  const staging = gpu.device.createBuffer({ label: `readback(${buffer.label})`, size, usage: 0x01 | 0x08 /* MAP_READ|COPY_DST */ });
  const enc = gpu.device.createCommandEncoder({ label: 'readback' });
  enc.copyBufferToBuffer(buffer, byteOffset, staging, 0, size);
  gpu.device.queue.submit([enc.finish()]);
  await staging.mapAsync(0x0001 /* READ */);
  const out = staging.getMappedRange().slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return out;
}
