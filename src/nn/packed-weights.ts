// The conv weights of a compiled model repacked once per pass: the forward and input-gradient
// kernels read weights repacked into blocks of 8 channels (src/kernels/conv2d-pack.ts), and the
// weights do not change between the start of a step's forward list and the optimiser at its end,
// so one dispatch at the start of each forward list repacks every convolution of the model for the
// whole step — instead of a repack dispatch in front of every forward and input-gradient
// convolution (41 of ResNet-20's training step). The values copied are the same, so nothing that
// reads them changes; the price is a buffer holding every packed tensor (about twice the conv
// weights) where one scratch of the largest layer's size served before.
import type { Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { align } from '../gpu/align.ts';
import { ALIGN_ELEMS, type Tensor } from '../gpu/tensor.ts';
import { conv2dPack, conv2dPackedLength, type PackSegment } from '../kernels/conv2d-pack.ts';
import type { Conv2dShape } from '../kernels/conv2d.ts';

interface Pending { s: Conv2dShape; weight: Tensor; blocksOfCout: boolean; length: number; bind(t: Tensor): void }

export class PackedWeights {
  private readonly pending: Pending[] = [];
  private done = false;

  /**
   * The weights `weight` of a convolution of shape `s` as its forward (blocksOfCout) or
   * input-gradient kernel reads them: a view whose buffer is chosen by dispatches(), so it may only
   * be bound inside a dispatch thunk (as a gradient of the Builder).
   */
  view(s: Conv2dShape, weight: Tensor, blocksOfCout: boolean): Tensor {
    if (this.done) throw new Error(`packed weights of ${weight.name} asked for after the repack was built`);
    let slot: Tensor | null = null;
    const bound = (): Tensor => {
      if (!slot) throw new Error(`packed weights of ${weight.name} bound before their buffer was assigned`);
      return slot;
    };
    const length = conv2dPackedLength(s, blocksOfCout);
    const name = `${weight.name}.packed_${blocksOfCout ? 'forward' : 'input'}`;
    this.pending.push({ s, weight, blocksOfCout, length, bind: (t) => { slot = t; } });
    return {
      name, length, shape: [length],
      get buffer(): GPUBuffer { return bound().buffer; },
      get offset(): number { return bound().offset; },
    };
  }

  /**
   * Allocates the packed buffers through `alloc` and returns the dispatches that fill every view:
   * one, unless the views (or the weights they read) span more than one binding can hold; then one
   * per group of consecutive views that fits. Call once, after every view was asked for.
   */
  dispatches(gpu: Gpu, alloc: (name: string, shape: number[]) => Tensor, wg: number): Dispatch[] {
    this.done = true;
    const limit = Math.floor(Math.min(gpu.device.limits.maxStorageBufferBindingSize, gpu.device.limits.maxBufferSize) / 4);
    const groups: { items: { p: Pending; at: number }[]; size: number }[] = [];
    let lo = Infinity, hi = 0;
    for (const p of this.pending) {
      let g = groups[groups.length - 1];
      const wlo = Math.min(lo, p.weight.offset), whi = Math.max(hi, p.weight.offset + p.weight.length);
      if (!g || g.size + p.length > limit || whi - wlo > limit) {
        groups.push(g = { items: [], size: 0 });
        lo = p.weight.offset; hi = p.weight.offset + p.weight.length;
      } else {
        lo = wlo; hi = whi;
      }
      g.items.push({ p, at: g.size });
      g.size += align(p.length, ALIGN_ELEMS);
    }
    return groups.map((g, i) => {
      const buf = alloc(i === 0 ? 'conv_packed' : `conv_packed_${i}`, [g.size]);
      const segments: PackSegment[] = g.items.map(({ p, at }) => {
        const packed: Tensor = { name: `${p.weight.name}.packed`, buffer: buf.buffer, offset: buf.offset + at, length: p.length, shape: [p.length] };
        p.bind(packed);
        return { s: p.s, weight: p.weight, packed, blocksOfCout: p.blocksOfCout };
      });
      return conv2dPack(gpu, segments, wg, buf.name);
    });
  }
}
