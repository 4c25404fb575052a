// float64 reference of the repacked conv weights (shaders/conv2d_pack.wgsl; the `packed` layout of
// conv2d_segments.wgsl), written from the layout's definition rather than the shader's index math:
// for the forward kernel (blocks of output channels) the reduced axis r is Cin and the blocked
// axis c is Cout; for the input gradient r is Cout and c is Cin. Block b holds channels 8b..8b+7:
//   packed[((b·R + r)·T + t)·8 + j] = W at (channel c = 8b + j, reduced r, tap t), 0 where c ≥ width
// with T = kh·kw taps in row-major order and W indexed [Cout, Cin, kh, kw].
import type { Conv2dShape } from '../kernels/conv2d.ts';

export function conv2dPackedWeights(s: Conv2dShape, w: Float64Array, blocksOfCout: boolean): Float64Array {
  const taps = s.kh * s.kw;
  const [width, reduced] = blocksOfCout ? [s.cout, s.cin] : [s.cin, s.cout];
  const blocks = Math.ceil(width / 8);
  const out = new Float64Array(blocks * reduced * taps * 8);
  for (let b = 0; b < blocks; b++) {
    for (let r = 0; r < reduced; r++) {
      for (let t = 0; t < taps; t++) {
        for (let j = 0; j < 8; j++) {
          const c = 8 * b + j;
          if (c >= width) continue;
          const [co, ci] = blocksOfCout ? [c, r] : [r, c];
          out[((b * reduced + r) * taps + t) * 8 + j] = w[(co * s.cin + ci) * taps + t]!;
        }
      }
    }
  }
  return out;
}
