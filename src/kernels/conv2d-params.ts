// The uniform every conv2d kernel reads (struct Params in shaders/conv2d_common.wgsl), written
// here once: src/kernels/conv2d.ts fills it from a layer's shape, conv2d-pack.ts with the count of
// its segments and vec4s.
export const CONV2D_PARAMS = [
  ['n', 'u32'], ['cin', 'u32'], ['h', 'u32'], ['w', 'u32'],
  ['cout', 'u32'], ['ho', 'u32'], ['wo', 'u32'], ['kh', 'u32'],
  ['kw', 'u32'], ['stride', 'u32'], ['pad', 'u32'], ['chunk', 'u32'],
  ['count', 'u32'],
] as const;
