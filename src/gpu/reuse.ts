// Buffer reuse by lifetime: tensors that are never live at the same time can share one GPU
// buffer. A tensor's lifetime is the inclusive range of steps [first, last] from the step that
// writes it to the last step that reads it; two tensors whose ranges overlap (including a step
// that reads one and writes the other) always get different buffers.
//
// Why whole buffers and not offsets inside one big arena: WebGPU validates usage per buffer and
// per dispatch, so a dispatch may not bind the same buffer both read-only and writable, even at
// disjoint offsets. A dispatch that reads dy and writes dx therefore needs two buffers anyway.

export interface Lifetime {
  /** Elements the tensor needs. */
  readonly size: number;
  /** First step that touches it (writes it). */
  readonly first: number;
  /** Last step that reads it (inclusive). */
  readonly last: number;
}

export interface BufferPlan {
  /** For each lifetime (same order as the input), the index of the buffer it lives in. */
  readonly slot: number[];
  /** Size in elements of each buffer: the largest tensor it holds. */
  readonly sizes: number[];
}

/**
 * Greedy interval colouring: visit tensors in order of their first step; a buffer is free for a
 * tensor when the last tensor placed in it ended before this one starts. Among free buffers take
 * the smallest one that is big enough, else grow the largest free one (cheaper than a new
 * buffer), else open a new buffer. Only buffers whose every tensor has ended are reused, so no
 * two overlapping lifetimes ever share a buffer.
 */
export function planBuffers(lifetimes: readonly Lifetime[]): BufferPlan {
  for (const [i, l] of lifetimes.entries()) {
    if (!(l.size > 0) || !Number.isInteger(l.first) || !Number.isInteger(l.last) || l.last < l.first) {
      throw new Error(`lifetime ${i}: bad range [${l.first}, ${l.last}] or size ${l.size}`);
    }
  }
  const order = lifetimes.map((_, i) => i).sort((a, b) => lifetimes[a]!.first - lifetimes[b]!.first || a - b);
  const slot = new Array<number>(lifetimes.length);
  const sizes: number[] = [], busyUntil: number[] = [];
  for (const i of order) {
    const l = lifetimes[i]!;
    let fit = -1, largest = -1;
    for (let s = 0; s < sizes.length; s++) {
      if (busyUntil[s]! >= l.first) continue;
      if (sizes[s]! >= l.size && (fit < 0 || sizes[s]! < sizes[fit]!)) fit = s;
      if (largest < 0 || sizes[s]! > sizes[largest]!) largest = s;
    }
    const s = fit >= 0 ? fit : largest >= 0 ? largest : sizes.push(0) - 1;
    sizes[s] = Math.max(sizes[s]!, l.size);
    busyUntil[s] = l.last;
    slot[i] = s;
  }
  return { slot, sizes };
}
