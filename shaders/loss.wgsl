// Softmax cross-entropy over logits [N, C] with integer labels [N]. ONE workgroup does the whole
// batch: thread t owns rows t, t+WG, t+2·WG, … and the per-thread sums meet in a fixed tree, so
// the batch statistics need no atomics and are bitwise reproducible. N·C is small (a batch of
// CIFAR-10 logits is ~1k values), so a single workgroup costs nothing next to the convolutions.
//
// Contract for bad inputs (the driver stops on a non-finite loss; nothing is silently hidden):
// - a non-finite logit (NaN or ±Inf) in a row makes that row's loss and dlogits NaN;
// - a label ≥ C makes that row's loss NaN and it never counts as correct; its dlogits row is
//   softmax/N (no one-hot term). The logit at `label` is never read, so nothing is out of bounds.
// stats[slot+1] holds the correct count as f32: exact while the accumulated count stays < 2^24.

override WG: u32 = 256;

struct Params { n: u32, c: u32, slot: u32, accumulate: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;

var<workgroup> loss_part: array<f32, WG>;
var<workgroup> hit_part: array<u32, WG>;

// Bit tests instead of x != x: compilers may assume floats are finite and fold comparisons away.
fn is_finite(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }

// A quiet NaN built at run time (a NaN constant expression is a WGSL compile error).
fn nan() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}

struct Row { max: f32, sum_exp: f32, loss: f32, correct: bool, finite: bool }

// Numerically stable log-softmax of one row: loss = log Σ_j exp(x_j − m) − (x_label − m).
// argmax keeps the first index of the maximum (strict >), like torch.argmax.
fn row_stats(row: u32) -> Row {
  let base = row * p.c;
  let label = labels[row];
  var m = logits[base];
  var arg = 0u;
  var finite = true;
  for (var j = 0u; j < p.c; j++) {
    let x = logits[base + j];
    finite = finite && is_finite(x);
    if (x > m) { m = x; arg = j; }
  }
  var s = 0.0;
  for (var j = 0u; j < p.c; j++) { s += exp(logits[base + j] - m); }
  let valid = label < p.c;
  let x_label = logits[base + min(label, p.c - 1u)];
  var loss = log(s) - (x_label - m);
  if (!finite || !valid) { loss = nan(); }
  return Row(m, s, loss, finite && valid && arg == label, finite);
}

// Sums every thread's (loss, hits) in a fixed halving tree; the result is valid in thread 0.
fn tree_reduce(t: u32, loss: f32, hits: u32) {
  loss_part[t] = loss;
  hit_part[t] = hits;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      loss_part[t] += loss_part[t + s];
      hit_part[t] += hit_part[t + s];
    }
    workgroupBarrier();
  }
}

// stats[slot] (+)= loss_total · scale, stats[slot+1] (+)= hits.
fn write_stats(scale: f32) {
  var loss = loss_part[0] * scale;
  var hits = f32(hit_part[0]);
  if (p.accumulate != 0u) {
    loss += stats[p.slot];
    hits += stats[p.slot + 1u];
  }
  stats[p.slot] = loss;
  stats[p.slot + 1u] = hits;
}

// Training step: mean loss and correct count into stats, dlogits = (softmax − onehot) / N.
@compute @workgroup_size(WG)
fn softmax_cross_entropy_forward_backward(@builtin(local_invocation_index) t: u32) {
  var loss = 0.0;
  var hits = 0u;
  let inv_n = 1.0 / f32(p.n);
  for (var row = t; row < p.n; row += WG) {
    let r = row_stats(row);
    loss += r.loss;
    hits += u32(r.correct);
    let label = labels[row];
    let base = row * p.c;
    for (var j = 0u; j < p.c; j++) {
      let prob = exp(logits[base + j] - r.max) / r.sum_exp;
      var g = (prob - select(0.0, 1.0, j == label)) * inv_n;
      if (!r.finite) { g = nan(); }
      dlogits[base + j] = g;
    }
  }
  tree_reduce(t, loss, hits);
  if (t == 0u) { write_stats(inv_n); }
}

// Evaluation: loss SUM (not mean, so batches of any size add up) and correct count, no gradient.
@compute @workgroup_size(WG)
fn cross_entropy_forward(@builtin(local_invocation_index) t: u32) {
  var loss = 0.0;
  var hits = 0u;
  for (var row = t; row < p.n; row += WG) {
    let r = row_stats(row);
    loss += r.loss;
    hits += u32(r.correct);
  }
  tree_reduce(t, loss, hits);
  if (t == 0u) { write_stats(1.0); }
}
