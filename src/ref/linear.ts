// float64 references for nn.Linear (W is [out, in], row-major) and plain matmul, written from
// the definitions: y = x·Wᵀ + b, dx = dy·W, dW = dyᵀ·x, db = Σ_batch dy.
export interface LinearDims { batch: number; in: number; out: number }

/** C[m,n] = Σ_k A[m,k]·B[k,n]. */
export function matmul(a: Float64Array, b: Float64Array, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t]! * b[t * n + j]!;
      c[i * n + j] = s;
    }
  }
  return c;
}

export function linearForward(x: Float64Array, w: Float64Array, bias: Float64Array | null, d: LinearDims): Float64Array {
  const y = new Float64Array(d.batch * d.out);
  for (let r = 0; r < d.batch; r++) {
    for (let o = 0; o < d.out; o++) {
      let s = bias ? bias[o]! : 0;
      for (let i = 0; i < d.in; i++) s += x[r * d.in + i]! * w[o * d.in + i]!;
      y[r * d.out + o] = s;
    }
  }
  return y;
}

export function linearBackwardInput(dy: Float64Array, w: Float64Array, d: LinearDims): Float64Array {
  const dx = new Float64Array(d.batch * d.in);
  for (let r = 0; r < d.batch; r++) {
    for (let i = 0; i < d.in; i++) {
      let s = 0;
      for (let o = 0; o < d.out; o++) s += dy[r * d.out + o]! * w[o * d.in + i]!;
      dx[r * d.in + i] = s;
    }
  }
  return dx;
}

export function linearBackwardWeight(dy: Float64Array, x: Float64Array, d: LinearDims): Float64Array {
  const dw = new Float64Array(d.out * d.in);
  for (let o = 0; o < d.out; o++) {
    for (let i = 0; i < d.in; i++) {
      let s = 0;
      for (let r = 0; r < d.batch; r++) s += dy[r * d.out + o]! * x[r * d.in + i]!;
      dw[o * d.in + i] = s;
    }
  }
  return dw;
}

export function linearBackwardBias(dy: Float64Array, d: Pick<LinearDims, 'batch' | 'out'>): Float64Array {
  const db = new Float64Array(d.out);
  for (let r = 0; r < d.batch; r++) for (let o = 0; o < d.out; o++) db[o] += dy[r * d.out + o]!;
  return db;
}

/** The fused linear + ReLU layer: y = max(x·Wᵀ + b, 0). */
export function linearReluForward(x: Float64Array, w: Float64Array, bias: Float64Array | null, d: LinearDims): Float64Array {
  return linearForward(x, w, bias, d).map((v) => Math.max(v, 0));
}

/**
 * Its backward from the layer's output y: the pre-activation gradient is dy where y > 0 (ReLU's
 * derivative, 0 at 0 as in PyTorch), then the linear backward: dx, dW and db of that gradient.
 */
export function linearReluBackward(dy: Float64Array, y: Float64Array, x: Float64Array, w: Float64Array, d: LinearDims):
  { dz: Float64Array; dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const dz = dy.map((g, i) => (y[i]! > 0 ? g : 0));
  return { dz, dx: linearBackwardInput(dz, w, d), dw: linearBackwardWeight(dz, x, d), db: linearBackwardBias(dz, d) };
}
