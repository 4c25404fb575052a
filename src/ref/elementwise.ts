// float64 references for ReLU and add, written from the definitions.
export function reluForward(x: Float64Array): Float64Array {
  return x.map((v) => (v > 0 ? v : 0));
}

export function reluBackward(x: Float64Array, dy: Float64Array): Float64Array {
  return dy.map((g, i) => (x[i]! > 0 ? g : 0));
}

export function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]!);
}

export function gather(src: ArrayLike<number>, indices: readonly number[]): Float64Array {
  return Float64Array.from(indices, (i) => src[i]!);
}
