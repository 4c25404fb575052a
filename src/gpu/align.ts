/** n rounded up to a multiple of `to` (buffer sizes, binding offsets, slab strides). */
export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
