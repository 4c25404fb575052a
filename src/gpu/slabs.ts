// Member-major allocation for a pack of K networks of one architecture. While member k is being
// built, every buffer the model, feeder and optimiser ask for (by label, in build order) is slice
// k of one shared "slab" buffer of K equal, 256-byte-aligned slices instead of a buffer of its
// own: activations become [K, B, …], arenas [K, arena]. A kernel can then reach member k's copy
// of a binding at a fixed stride from member 0's, which is what lets one dispatch with the member
// index as a grid dimension replace K dispatches (src/gpu/fuse.ts). Each member still reads and
// writes exactly its own bytes, so nothing it computes changes.
import { align } from './align.ts';

/** Slice stride granularity: WebGPU's minStorageBufferOffsetAlignment and minUniformBufferOffsetAlignment. */
export const SLICE_ALIGN = 256;

interface Slab { buffer: GPUBuffer; stride: number; usage: GPUBufferUsageFlags }

/** A region of a buffer: `offset` in bytes. */
export interface Slice { buffer: GPUBuffer; offset: number }

/**
 * What a SlabScope needs of the Gpu (src/gpu/gpu.ts), which asks its `slabs` for every buffer
 * while one is installed: stated here so this module does not import the Gpu back.
 */
export interface SlabHost {
  readonly device: GPUDevice;
  slabs: SlabScope | null;
  buffer(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer;
}

export class SlabScope {
  private readonly slabs = new Map<string, Slab>();
  private readonly seen = new Map<string, number>();
  private current = -1;

  constructor(private readonly gpu: SlabHost, readonly members: number) {}

  /**
   * Runs part of member `k`'s construction with its allocations taken from the slabs. Members are
   * built in order 0, 1, …; one member may be built in several calls (allocations keep counting).
   */
  build<T>(k: number, f: () => T): T {
    if (k !== this.current) {
      if (k < this.current) throw new Error(`slab scope: member ${k} built after member ${this.current}`);
      this.current = k;
      this.seen.clear();
    }
    const previous = this.gpu.slabs;
    this.gpu.slabs = this;
    try {
      return f();
    } finally {
      this.gpu.slabs = previous;
    }
  }

  /**
   * Slice `current` of the slab for the n-th allocation labelled `label`. Member 0 creates the
   * slab; a later member whose request does not match it (another size or usage, or a label member
   * 0 never asked for) gets a buffer of its own, which only costs that binding its fusion.
   */
  slice(label: string, bytes: number, usage: GPUBufferUsageFlags): Slice {
    const n = this.seen.get(label) ?? 0;
    this.seen.set(label, n + 1);
    const key = `${label}#${n}`;
    let slab = this.slabs.get(key);
    if (!slab && this.current === 0) {
      const stride = align(Math.max(bytes, 16), SLICE_ALIGN);
      if (stride * this.members <= this.gpu.device.limits.maxBufferSize) {
        slab = { buffer: this.gpu.device.createBuffer({ label: `${label}[${this.members}]`, size: stride * this.members, usage }), stride, usage };
        this.slabs.set(key, slab);
      }
    }
    if (slab && bytes <= slab.stride && usage === slab.usage) return { buffer: slab.buffer, offset: this.current * slab.stride };
    return { buffer: this.gpu.buffer(label, bytes, usage), offset: 0 };
  }
}
