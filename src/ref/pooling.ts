// float64 references for pooling on NCHW tensors, written from the definitions (PyTorch, floor
// mode: only the floor(H/k)·floor(W/k) windows that fit are pooled).

export interface Dims { n: number; c: number; h: number; w: number }

/** Calls f(output index, cells) for every output; cells = its input indices in row-major order. */
function forEachWindow(d: Dims, k: number, f: (outIndex: number, cells: number[]) => void): void {
  const oh = Math.floor(d.h / k), ow = Math.floor(d.w / k);
  for (let plane = 0; plane < d.n * d.c; plane++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const cells: number[] = [];
        for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) cells.push((plane * d.h + oy * k + r) * d.w + ox * k + c);
        f((plane * oh + oy) * ow + ox, cells);
      }
    }
  }
}

function outLength(d: Dims, k: number): number {
  return d.n * d.c * Math.floor(d.h / k) * Math.floor(d.w / k);
}

/** Index (into x) of the first maximum of the cells, as PyTorch breaks ties. */
function argmax(x: Float64Array, cells: number[]): number {
  let best = cells[0]!;
  for (const i of cells) if (x[i]! > x[best]!) best = i;
  return best;
}

export function maxpoolForward(x: Float64Array, d: Dims, k = 2): Float64Array {
  const y = new Float64Array(outLength(d, k));
  forEachWindow(d, k, (o, win) => { y[o] = x[argmax(x, win)]!; });
  return y;
}

export function maxpoolBackward(x: Float64Array, dy: Float64Array, d: Dims, k = 2): Float64Array {
  const dx = new Float64Array(x.length);
  forEachWindow(d, k, (o, win) => { dx[argmax(x, win)] += dy[o]!; });
  return dx;
}

export function avgpoolForward(x: Float64Array, d: Dims, k: number): Float64Array {
  const y = new Float64Array(outLength(d, k));
  forEachWindow(d, k, (o, win) => { y[o] = win.reduce((s, i) => s + x[i]!, 0) / (k * k); });
  return y;
}

export function avgpoolBackward(dy: Float64Array, d: Dims, k: number): Float64Array {
  const dx = new Float64Array(d.n * d.c * d.h * d.w);
  forEachWindow(d, k, (o, win) => { for (const i of win) dx[i] += dy[o]! / (k * k); });
  return dx;
}

export function globalAvgpoolForward(x: Float64Array, d: Dims): Float64Array {
  const hw = d.h * d.w;
  const y = new Float64Array(d.n * d.c);
  for (let p = 0; p < y.length; p++) {
    let s = 0;
    for (let e = 0; e < hw; e++) s += x[p * hw + e]!;
    y[p] = s / hw;
  }
  return y;
}

export function globalAvgpoolBackward(dy: Float64Array, d: Dims): Float64Array {
  const hw = d.h * d.w;
  const dx = new Float64Array(d.n * d.c * hw);
  for (let i = 0; i < dx.length; i++) dx[i] = dy[Math.floor(i / hw)]! / hw;
  return dx;
}
