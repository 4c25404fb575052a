// float64 references for 2-D convolution, written from the definition
//   y[n, co, oy, ox] = b[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · x[n, ci, oy·s + ky − p, ox·s + kx − p]
// (x is zero outside the image). The backward passes apply the chain rule term by term: each
// product in that sum sends dy·W to x's element and dy·x to W's element (a scatter), which is a
// different route from the GPU kernels' gathers.
import type { Conv2dShape } from '../kernels/conv2d.ts';

function dims(s: Conv2dShape): { ho: number; wo: number } {
  return { ho: Math.floor((s.h + 2 * s.pad - s.kh) / s.stride) + 1, wo: Math.floor((s.w + 2 * s.pad - s.kw) / s.stride) + 1 };
}

/** Calls f(yIndex, xIndex, wIndex) for every product term of the convolution whose x tap is inside the image. */
function forEachTerm(s: Conv2dShape, f: (yi: number, xi: number, wi: number) => void): void {
  const { ho, wo } = dims(s);
  for (let n = 0; n < s.n; n++) {
    for (let co = 0; co < s.cout; co++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const yi = ((n * s.cout + co) * ho + oy) * wo + ox;
          for (let ci = 0; ci < s.cin; ci++) {
            for (let ky = 0; ky < s.kh; ky++) {
              const iy = oy * s.stride + ky - s.pad;
              if (iy < 0 || iy >= s.h) continue;
              for (let kx = 0; kx < s.kw; kx++) {
                const ix = ox * s.stride + kx - s.pad;
                if (ix < 0 || ix >= s.w) continue;
                f(yi, ((n * s.cin + ci) * s.h + iy) * s.w + ix, ((co * s.cin + ci) * s.kh + ky) * s.kw + kx);
              }
            }
          }
        }
      }
    }
  }
}

export function conv2dForward(s: Conv2dShape, x: Float64Array, w: Float64Array, bias: Float64Array | null): Float64Array {
  const { ho, wo } = dims(s);
  const y = new Float64Array(s.n * s.cout * ho * wo);
  forEachTerm(s, (yi, xi, wi) => { y[yi]! += w[wi]! * x[xi]!; });
  if (bias) {
    for (let i = 0; i < y.length; i++) y[i]! += bias[Math.floor(i / (ho * wo)) % s.cout]!;
  }
  return y;
}

export function conv2dBackwardInput(s: Conv2dShape, dy: Float64Array, w: Float64Array): Float64Array {
  const dx = new Float64Array(s.n * s.cin * s.h * s.w);
  forEachTerm(s, (yi, xi, wi) => { dx[xi]! += dy[yi]! * w[wi]!; });
  return dx;
}

export function conv2dBackwardWeight(s: Conv2dShape, x: Float64Array, dy: Float64Array): Float64Array {
  const dw = new Float64Array(s.cout * s.cin * s.kh * s.kw);
  forEachTerm(s, (yi, xi, wi) => { dw[wi]! += dy[yi]! * x[xi]!; });
  return dw;
}

export function conv2dBackwardBias(s: Conv2dShape, dy: Float64Array): Float64Array {
  const { ho, wo } = dims(s);
  const db = new Float64Array(s.cout);
  for (let i = 0; i < dy.length; i++) db[Math.floor(i / (ho * wo)) % s.cout]! += dy[i]!;
  return db;
}
