// Deterministic reductions for telemetry (weight norms, distances between checkpoints, sign
// flips) over tensors of up to tens of millions of elements. Two stages, no atomics:
//   *_partials: workgroup g reduces the fixed contiguous chunk [g·CHUNK, (g+1)·CHUNK), CHUNK =
//               WG·ITEMS; thread t sums elements t, t+WG, … of it in order (adjacent threads read
//               adjacent words), then the workgroup meets in a fixed halving tree → partials[g];
//   *_final:    one workgroup sums the partials the same way → out[index].
// The summation order depends only on n, WG and ITEMS, so the same input gives the same bits.
// Counts (sign_diff) are u32 throughout and exact.
// Ops: sum, sumsq, sum_abs, dot, dist_sq (Σ(a−b)²), sign_diff.

// Set per adapter class by src/kernels/reduce.ts (big chunks on CPU drivers). WG must be a
// power of two for the halving tree.
override WG: u32 = 256;
override ITEMS: u32 = 32;

struct Params { n: u32, groups: u32, index: u32 }

// Stage 1 reads the inputs and writes partials; stage 2 reads partials and writes the result.
// An entry point uses only one of the variables declared at each binding (WGSL allows the
// aliases because no single entry point references two of them).
@group(0) @binding(0) var<storage, read> in_a: array<f32>;
@group(0) @binding(0) var<storage, read> in_count: array<u32>;
@group(0) @binding(1) var<storage, read> in_b: array<f32>;
@group(0) @binding(1) var<storage, read_write> out_f32: array<f32>;
@group(0) @binding(1) var<storage, read_write> out_u32: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> part_f32: array<f32>;
@group(0) @binding(3) var<storage, read_write> part_u32: array<u32>;

var<workgroup> tree_f: array<f32, WG>;
var<workgroup> tree_u: array<u32, WG>;

fn tree_sum_f32(t: u32, v: f32) -> f32 {
  tree_f[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { tree_f[t] += tree_f[t + s]; }
    workgroupBarrier();
  }
  return tree_f[0];
}

fn tree_sum_u32(t: u32, v: u32) -> u32 {
  tree_u[t] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) { tree_u[t] += tree_u[t + s]; }
    workgroupBarrier();
  }
  return tree_u[0];
}

// −1, 0 or +1 (−0 counts as 0; a NaN gets 0 here, but the sumsq of the same tensor shows it).
fn sgn(x: f32) -> i32 { return select(0, 1, x > 0.0) - select(0, 1, x < 0.0); }

// Workgroup g's index (folded over a 2-D grid; uniform, so threads may return before barriers)
// and its chunk [g·CHUNK, end).
fn group_of(wid: vec3u, nwg: vec3u) -> u32 { return wid.x + wid.y * nwg.x; }
fn chunk_start(g: u32) -> u32 { return g * WG * ITEMS; }
fn chunk_end(g: u32) -> u32 { return min(chunk_start(g) + WG * ITEMS, p.n); }

@compute @workgroup_size(WG)
fn reduce_sum_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) t: u32) {
  let g = group_of(wid, nwg);
  if (g >= p.groups) { return; }
  var acc = 0.0;
  for (var i = chunk_start(g) + t; i < chunk_end(g); i += WG) { acc += in_a[i]; }
  let total = tree_sum_f32(t, acc);
  if (t == 0u) { part_f32[g] = total; }
}

@compute @workgroup_size(WG)
fn reduce_sumsq_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                         @builtin(local_invocation_index) t: u32) {
  let g = group_of(wid, nwg);
  if (g >= p.groups) { return; }
  var acc = 0.0;
  for (var i = chunk_start(g) + t; i < chunk_end(g); i += WG) { let v = in_a[i]; acc += v * v; }
  let total = tree_sum_f32(t, acc);
  if (t == 0u) { part_f32[g] = total; }
}

@compute @workgroup_size(WG)
fn reduce_dot_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                       @builtin(local_invocation_index) t: u32) {
  let g = group_of(wid, nwg);
  if (g >= p.groups) { return; }
  var acc = 0.0;
  for (var i = chunk_start(g) + t; i < chunk_end(g); i += WG) { acc += in_a[i] * in_b[i]; }
  let total = tree_sum_f32(t, acc);
  if (t == 0u) { part_f32[g] = total; }
}

// Σ|a| (mean weight magnitude).
@compute @workgroup_size(WG)
fn reduce_sum_abs_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_index) t: u32) {
  let g = group_of(wid, nwg);
  if (g >= p.groups) { return; }
  var acc = 0.0;
  for (var i = chunk_start(g) + t; i < chunk_end(g); i += WG) { acc += abs(in_a[i]); }
  let total = tree_sum_f32(t, acc);
  if (t == 0u) { part_f32[g] = total; }
}

// Σ(a−b)²: the squared L2 distance, summed directly rather than as Σa² − 2Σab + Σb², which
// cancels catastrophically while the weights are still close to where they started.
@compute @workgroup_size(WG)
fn reduce_dist_sq_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                           @builtin(local_invocation_index) t: u32) {
  let g = group_of(wid, nwg);
  if (g >= p.groups) { return; }
  var acc = 0.0;
  for (var i = chunk_start(g) + t; i < chunk_end(g); i += WG) { let d = in_a[i] - in_b[i]; acc += d * d; }
  let total = tree_sum_f32(t, acc);
  if (t == 0u) { part_f32[g] = total; }
}

// Number of i with sign(a[i]) ≠ sign(b[i]).
@compute @workgroup_size(WG)
fn reduce_sign_diff_partials(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                             @builtin(local_invocation_index) t: u32) {
  let g = group_of(wid, nwg);
  if (g >= p.groups) { return; }
  var acc = 0u;
  for (var i = chunk_start(g) + t; i < chunk_end(g); i += WG) { acc += u32(sgn(in_a[i]) != sgn(in_b[i])); }
  let total = tree_sum_u32(t, acc);
  if (t == 0u) { part_u32[g] = total; }
}

// Stage 2: binding 0 holds the partials (in_a / in_count), binding 1 the output tensor.
@compute @workgroup_size(WG)
fn reduce_f32_final(@builtin(local_invocation_index) t: u32) {
  var acc = 0.0;
  for (var i = t; i < p.groups; i += WG) { acc += in_a[i]; }
  let total = tree_sum_f32(t, acc);
  if (t == 0u) { out_f32[p.index] = total; }
}

@compute @workgroup_size(WG)
fn reduce_u32_final(@builtin(local_invocation_index) t: u32) {
  var acc = 0u;
  for (var i = t; i < p.groups; i += WG) { acc += in_count[i]; }
  let total = tree_sum_u32(t, acc);
  if (t == 0u) { out_u32[p.index] = total; }
}
