// Masks and pruning: IMP on LeNet-300-100 reaches density 0.8^L with OpenLTH's counts; by default
// sparse_global / sparse_layerwise give exactly OpenLTH's masks (checked against its rule written
// out literally: threshold = sort(|w|)[count], keep > / >= threshold, with and without ties); with
// pruning_exact_count they prune exactly the smallest ceil(f·n) surviving |w| (checked against a
// brute-force (|w|, index) sort); ignored layers stay dense; random pruning keeps counts; mask
// files round trip and every malformed one is rejected with the file's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.ts';
import { Arena } from '../../src/gpu/tensor.ts';
import { parameters, type ModelSpec } from '../../src/nn/graph.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { initParameters } from '../../src/nn/init.ts';
import { Rng } from '../../src/rng.ts';
import { encodeSafetensors } from '../../src/io/safetensors.ts';
import { decodeMask, denseMask, density, encodeMask, maskTensors, type Layout } from '../../src/lottery/mask.ts';
import { prune, randomPrune } from '../../src/lottery/pruning.ts';
import { sparsityReport } from '../../src/lottery/sparsity.ts';
import { levelDensity } from '../../src/lottery/levels.ts';

function setup(name: string): { spec: ModelSpec; arena: Arena; layout: Layout } {
  const spec = getModel(name);
  const arena = new Arena('params');
  for (const p of parameters(spec.layers)) arena.add(p.name, p.shape);
  return { spec, arena, layout: arena.layout() };
}

function tensor(layout: Layout, name: string): { offset: number; size: number } {
  const e = layout.find((x) => x.name === name)!;
  return { offset: e.offset, size: e.shape.reduce((a, b) => a * b, 1) };
}

function kept(mask: Float32Array, t: { offset: number; size: number }): number {
  let n = 0;
  for (let i = t.offset; i < t.offset + t.size; i++) n += mask[i]!;
  return n;
}

/** Random weights in the layout with padding 0; `levels` > 0 quantises |w| to that many values (ties). */
function randomWeights(n: number, layout: Layout, seed: number, levels = 0): Float32Array {
  const rng = new Rng(seed);
  const w = new Float32Array(n);
  for (const e of layout) {
    const size = e.shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < size; i++) {
      const x = rng.normal();
      w[e.offset + i] = levels > 0 ? Math.sign(x) * (1 + rng.int(levels)) : x;
    }
  }
  return w;
}

/** Brute force: positions of the `count` smallest (|w|, index) among unpruned positions of `names`. */
function bruteForce(layout: Layout, names: string[], w: Float32Array, mask: Float32Array, count: number): Set<number> {
  const cand: number[] = [];
  for (const e of layout) {
    if (!names.includes(e.name)) continue;
    const t = tensor(layout, e.name);
    for (let i = t.offset; i < t.offset + t.size; i++) if (mask[i] === 1) cand.push(i);
  }
  cand.sort((a, b) => Math.abs(w[a]!) - Math.abs(w[b]!) || a - b);
  return new Set(cand.slice(0, count));
}

/**
 * OpenLTH's rule, literally (pruning/sparse_global.py and sparse_layerwise.py): threshold =
 * sort(|w| of unpruned positions of `names`)[count]; positions with |w| <= threshold (global) or
 * < threshold (layerwise) are pruned.
 */
function openlthRule(layout: Layout, names: string[], w: Float32Array, mask: Float32Array, count: number, global: boolean): Set<number> {
  const cand: number[] = [];
  for (const name of names) {
    const t = tensor(layout, name);
    for (let i = t.offset; i < t.offset + t.size; i++) if (mask[i] === 1) cand.push(i);
  }
  const threshold = cand.map((i) => Math.abs(w[i]!)).sort((a, b) => a - b)[count]!;
  return new Set(cand.filter((i) => (global ? Math.abs(w[i]!) <= threshold : Math.abs(w[i]!) < threshold)));
}

function newlyPruned(before: Float32Array, after: Float32Array): Set<number> {
  const s = new Set<number>();
  for (let i = 0; i < before.length; i++) if (before[i] === 1 && after[i] === 0) s.add(i);
  return s;
}

test('IMP on LeNet-300-100 (fc.weight ignored): density over all prunable tensors is 0.8^L ± 0.01, counts are OpenLTH\'s (or exact with pruning_exact_count)', () => {
  for (const exactCount of [false, true]) impLevels(exactCount);
});

function impLevels(exactCount: boolean): void {
  const { spec, arena, layout } = setup('mnist_lenet_300_100');
  const fc = tensor(layout, 'fc.weight');
  let mask = denseMask(spec, layout);
  let remaining = 266_200; // OpenLTH's LeNet-300-100: 784·300 + 300·100 + 100·10 prunable weights
  for (let level = 0; level <= 12; level++) {
    const report = sparsityReport(spec, layout, mask);
    assert.equal(report.total, 266_200);
    assert.equal(report.unpruned, remaining, `level ${level} unpruned count (exact count: ${exactCount})`);
    const d = density(spec, layout, mask);
    assert.equal(d, report.unpruned / report.total);
    assert.ok(Math.abs(d - levelDensity(level, 0.2)) <= 0.01, `level ${level}: density ${d} vs 0.8^L ${0.8 ** level}`);
    assert.equal(kept(mask, fc), fc.size, 'the ignored output layer stays dense');
    if (level > 0) assert.ok(density(spec, layout, mask, ['fc.weight']) < d, 'the pruned layers pay for the dense fc');
    // Each level "trains" to new weights, as IMP does (rewind + retrain changes every surviving weight).
    const weights = initParameters(spec, arena, 100 + level, 'uniform');
    const next = prune('sparse_global', { spec, layout, weights, mask, fraction: 0.2, layersToIgnore: spec.defaultIgnored, exactCount });
    for (let i = 0; i < mask.length; i++) assert.ok(next[i]! <= mask[i]!, 'pruned weights stay pruned');
    // OpenLTH prunes one more than ceil(f·n) (its threshold is itself pruned; random |w| have no ties):
    // level 1 keeps 212,959 weights, as OpenLTH's sparsity report says.
    remaining -= Math.ceil(0.2 * remaining) + (exactCount ? 0 : 1);
    if (level === 0) assert.equal(sparsityReport(spec, layout, next).unpruned, exactCount ? 212_960 : 212_959);
    mask = next;
  }
}

test('sparse_global gives OpenLTH\'s mask by default and the smallest ceil(f·n) |w| with pruning_exact_count, with and without ties', () => {
  const { spec, layout } = setup('mnist_lenet_5_4');
  const all = maskTensors(spec, layout).filter((t) => t.prunable).map((t) => t.name);
  for (const exactCount of [false, true]) {
    for (const ties of [0, 3]) {
      const w0 = randomWeights(denseMask(spec, layout).length, layout, 1 + ties, ties);
      let mask = denseMask(spec, layout);
      for (let level = 0; level < 5; level++) {
        const w = level === 0 ? w0 : randomWeights(mask.length, layout, 10 * level + ties, ties);
        const next = prune('sparse_global', { spec, layout, weights: w, mask, fraction: 0.3, layersToIgnore: [], exactCount });
        const remaining = all.reduce((s, n) => s + kept(mask, tensor(layout, n)), 0);
        const count = Math.ceil(0.3 * remaining);
        const expected = exactCount ? bruteForce(layout, all, w, mask, count) : openlthRule(layout, all, w, mask, count, true);
        assert.deepEqual(newlyPruned(mask, next), expected, `exact=${exactCount} ties=${ties} level ${level}`);
        if (!exactCount && ties === 0) assert.equal(expected.size, count + 1, 'OpenLTH prunes its threshold weight too');
        mask = next;
      }
    }
  }
});

test('ties: all-equal weights — OpenLTH\'s rule prunes every tied weight, pruning_exact_count exactly ceil(f·n), earliest first', () => {
  const { spec, layout } = setup('mnist_lenet_5');
  const mask = denseMask(spec, layout);
  const w = new Float32Array(mask.length).fill(0.5);
  const l0 = tensor(layout, 'fc_layers.0.weight'), fc = tensor(layout, 'fc.weight');
  const count = Math.ceil(0.2 * (l0.size + fc.size)); // remaining counts the ignored fc too (OpenLTH)
  const exact = prune('sparse_global', { spec, layout, weights: w, mask, fraction: 0.2, layersToIgnore: ['fc.weight'], exactCount: true });
  assert.equal(l0.size - kept(exact, l0), count);
  for (let i = 0; i < l0.size; i++) assert.equal(exact[l0.offset + i], i < count ? 0 : 1);
  // OpenLTH's `|w| > sort(|w|)[count]` prunes every weight tied with the threshold: all of them here.
  const openlth = prune('sparse_global', { spec, layout, weights: w, mask, fraction: 0.2, layersToIgnore: ['fc.weight'] });
  assert.equal(kept(openlth, l0), 0);
  assert.equal(kept(openlth, fc), fc.size, 'the ignored layer stays dense');
});

test('sparse_global with ignored layers leaves them and every non-prunable tensor untouched', () => {
  const { spec, layout } = setup('mnist_lenet_6_5');
  const mask = denseMask(spec, layout);
  const w = randomWeights(mask.length, layout, 3);
  const ignore = ['fc_layers.1.weight'];
  const ig = tensor(layout, 'fc_layers.1.weight');
  mask[ig.offset + 2] = 0; // an ignored tensor with a pruned weight keeps exactly its mask
  const next = prune('sparse_global', { spec, layout, weights: w, mask, fraction: 0.5, layersToIgnore: ignore });
  for (const t of maskTensors(spec, layout)) {
    if (t.prunable && !ignore.includes(t.name)) continue;
    assert.deepEqual(next.subarray(t.offset, t.offset + t.size), mask.subarray(t.offset, t.offset + t.size), t.name);
  }
  const others = ['fc_layers.0.weight', 'fc.weight'];
  const remaining = sparsityReport(spec, layout, mask).unpruned;
  assert.deepEqual(newlyPruned(mask, next), openlthRule(layout, others, w, mask, Math.ceil(0.5 * remaining), true));
});

test('sparse_layerwise: OpenLTH\'s mask per tensor by default (fewer on ties), ceil(f × remaining) smallest |w| with pruning_exact_count', () => {
  const { spec, layout } = setup('mnist_lenet_7_6');
  for (const exactCount of [false, true]) {
    let mask = denseMask(spec, layout);
    for (let level = 0; level < 3; level++) {
      const w = randomWeights(mask.length, layout, 20 + level, level === 2 ? 2 : 0);
      const next = prune('sparse_layerwise', { spec, layout, weights: w, mask, fraction: 0.2, layersToIgnore: ['fc.weight'], exactCount });
      for (const t of maskTensors(spec, layout).filter((x) => x.prunable)) {
        const before = kept(mask, t), after = kept(next, t);
        if (t.name === 'fc.weight') { assert.equal(after, before); continue; }
        const count = Math.ceil(0.2 * before);
        const got = new Set([...newlyPruned(mask, next)].filter((i) => i >= t.offset && i < t.offset + t.size));
        const expected = exactCount ? bruteForce(layout, [t.name], w, mask, count) : openlthRule(layout, [t.name], w, mask, count, false);
        assert.deepEqual(got, expected, `${t.name} level ${level} exact=${exactCount}`);
        if (exactCount || level < 2) assert.equal(before - after, count, `${t.name} level ${level}: distinct |w| prune exactly ceil(f·n)`);
        else assert.ok(before - after < count, `${t.name}: ties straddling the cut prune fewer under OpenLTH's >=`);
      }
      mask = next;
    }
  }
});

test('prune validates fraction, strategy, ignored names, mask and weights', () => {
  const { spec, layout } = setup('mnist_lenet_5');
  const mask = denseMask(spec, layout);
  const weights = randomWeights(mask.length, layout, 4);
  const base = { spec, layout, weights, mask, fraction: 0.2, layersToIgnore: [] as string[] };
  for (const f of [0, 1, -0.2, 1.5, NaN]) {
    assert.throws(() => prune('sparse_global', { ...base, fraction: f }), (e: Error) => e instanceof UserError && e.message.includes(String(f)));
  }
  assert.throws(() => prune('magnitude', base), (e: Error) => e instanceof UserError && /sparse_global, sparse_layerwise/.test(e.message));
  assert.throws(() => prune('sparse_global', { ...base, layersToIgnore: ['fc2.weight'] }), (e: Error) => e instanceof UserError && e.message.includes('fc2.weight'));
  assert.throws(() => prune('sparse_global', { ...base, layersToIgnore: ['fc.bias'] }), UserError);
  const bad = mask.slice(); bad[3] = 0.5;
  assert.throws(() => prune('sparse_global', { ...base, mask: bad }), /fc_layers\.0\.weight\[3\] is 0\.5/);
  const bias = mask.slice(); bias[tensor(layout, 'fc.bias').offset] = 0;
  assert.throws(() => prune('sparse_global', { ...base, mask: bias }), /fc\.bias\[0\].*not prunable/);
  assert.throws(() => prune('sparse_global', { ...base, weights: weights.subarray(1) }), UserError);
  const nan = weights.slice(); nan[7] = NaN;
  assert.throws(() => prune('sparse_global', { ...base, weights: nan }), /NaN/);
  // Ignoring nearly everything leaves too few weights to prune the global count from.
  assert.throws(() => prune('sparse_global', { ...base, fraction: 0.99, layersToIgnore: ['fc_layers.0.weight'] }), /only 50 unpruned/);
  assert.throws(() => prune('sparse_global', { ...base, fraction: 0.99, layersToIgnore: ['fc_layers.0.weight'], exactCount: true }), /only 50 unpruned/);
});

test('random pruning keeps per-tensor (layerwise) or total (global) counts, is seeded, and leaves ignored tensors', () => {
  const { spec, arena, layout } = setup('mnist_lenet_300_100');
  let mask = denseMask(spec, layout);
  for (let l = 0; l < 3; l++) {
    mask = prune('sparse_global', { spec, layout, weights: initParameters(spec, arena, l, 'uniform'), mask, fraction: 0.2, layersToIgnore: ['fc.weight'] });
  }
  const prunable = maskTensors(spec, layout).filter((t) => t.prunable);
  const l0 = tensor(layout, 'fc_layers.0.weight');
  for (const strategy of ['layerwise', 'global']) {
    const a = randomPrune(strategy, { spec, layout, mask, seed: 7, layersToIgnore: ['fc.weight'] });
    assert.deepEqual(a, randomPrune(strategy, { spec, layout, mask, seed: 7, layersToIgnore: ['fc.weight'] }), 'same seed, same mask');
    assert.notDeepEqual(a, randomPrune(strategy, { spec, layout, mask, seed: 8, layersToIgnore: ['fc.weight'] }), 'seed matters');
    assert.equal(sparsityReport(spec, layout, a).unpruned, sparsityReport(spec, layout, mask).unpruned, `${strategy}: total kept`);
    let moved = 0;
    for (let i = l0.offset; i < l0.offset + l0.size; i++) if (a[i] !== mask[i]) moved++;
    assert.ok(moved > 1000, `${strategy}: positions are redrawn (moved ${moved})`);
    for (const t of maskTensors(spec, layout)) {
      if (!t.prunable || t.name === 'fc.weight') {
        assert.deepEqual(a.subarray(t.offset, t.offset + t.size), mask.subarray(t.offset, t.offset + t.size), `${strategy}: ${t.name} untouched`);
      }
    }
    if (strategy === 'layerwise') for (const t of prunable) assert.equal(kept(a, t), kept(mask, t), t.name);
  }
  // Global shuffling moves weights across tensors: per-layer counts drift toward the global density.
  const g = randomPrune('global', { spec, layout, mask, seed: 7, layersToIgnore: ['fc.weight'] });
  const l1 = tensor(layout, 'fc_layers.1.weight');
  const dGlobal = (kept(mask, l0) + kept(mask, l1)) / (l0.size + l1.size);
  assert.ok(Math.abs(kept(g, l1) / l1.size - dGlobal) < 0.02);
  assert.throws(() => randomPrune('even', { spec, layout, mask, seed: 1 }), /layerwise, global/);
  assert.throws(() => randomPrune('global', { spec, layout, mask, seed: -1 }), UserError);
});

test('sparsity report counts per prunable tensor', () => {
  const { spec, layout } = setup('mnist_lenet_5');
  const mask = denseMask(spec, layout);
  const l0 = tensor(layout, 'fc_layers.0.weight');
  mask.fill(0, l0.offset, l0.offset + 100);
  assert.deepEqual(sparsityReport(spec, layout, mask), {
    total: 3970, unpruned: 3870,
    tensors: { 'fc_layers.0.weight': { total: 3920, unpruned: 3820 }, 'fc.weight': { total: 50, unpruned: 50 } },
  });
});

test('mask file round trip (U8 and F32); non-prunable tensors are not stored', () => {
  const { spec, layout } = setup('mnist_lenet_300_100');
  const mask = randomPrune('global', { spec, layout, mask: prune('sparse_global', {
    spec, layout, weights: randomWeights(denseMask(spec, layout).length, layout, 5), mask: denseMask(spec, layout), fraction: 0.5, layersToIgnore: [],
  }), seed: 3 });
  for (const dtype of ['U8', 'F32'] as const) {
    const bytes = encodeMask(spec, layout, mask, dtype);
    assert.deepEqual(decodeMask(spec, layout, bytes, 'mask.safetensors'), mask, dtype);
  }
  assert.ok(encodeMask(spec, layout, mask).length < 300_000, 'U8 is one byte per weight');
});

test('mask file rejections name the file and the problem', () => {
  const { spec, layout } = setup('mnist_lenet_5');
  const l0 = { shape: [5, 784], data: new Uint8Array(3920).fill(1) };
  const fc = { shape: [10, 5], data: new Uint8Array(50).fill(1) };
  const decode = (t: Record<string, { shape: number[]; data: Uint8Array | Float32Array | Int32Array }>) =>
    decodeMask(spec, layout, encodeSafetensors(t), 'run/mask.safetensors');
  assert.equal(decode({ 'fc_layers.0.weight': l0, 'fc.weight': fc }).length, denseMask(spec, layout).length);
  const cases: [string, Record<string, { shape: number[]; data: Uint8Array | Float32Array | Int32Array }>, RegExp][] = [
    ['missing', { 'fc_layers.0.weight': l0 }, /missing fc\.weight/],
    ['unexpected', { 'fc_layers.0.weight': l0, 'fc.weight': fc, 'fc.bias': { shape: [10], data: new Uint8Array(10).fill(1) } }, /unexpected fc\.bias/],
    ['shape', { 'fc_layers.0.weight': l0, 'fc.weight': { shape: [5, 10], data: fc.data } }, /shape mismatch fc\.weight/],
    ['dtype', { 'fc_layers.0.weight': l0, 'fc.weight': { shape: [10, 5], data: new Int32Array(50).fill(1) } }, /fc\.weight has dtype I32/],
    ['value 2', { 'fc_layers.0.weight': l0, 'fc.weight': { shape: [10, 5], data: new Uint8Array(50).fill(2) } }, /fc\.weight\[0\] is 2/],
    ['value 0.5', { 'fc_layers.0.weight': l0, 'fc.weight': { shape: [10, 5], data: new Float32Array(50).fill(0.5) } }, /fc\.weight\[0\] is 0\.5/],
  ];
  for (const [what, tensors, re] of cases) {
    assert.throws(() => decode(tensors), (e: Error) => e instanceof UserError && e.message.startsWith('run/mask.safetensors') && re.test(e.message), what);
  }
  assert.throws(() => decodeMask(spec, layout, new Uint8Array(4), 'short.safetensors'), /short\.safetensors/);
});
