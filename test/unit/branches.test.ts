// Each branch perturbation changes only what it claims to: surviving weights of prunable tensors,
// in the way its name says, reproducibly from its seed; pruned positions stay 0 and the other
// parameters stay at w_k (randomly_reinitialize excepted, which follows OpenLTH and redraws all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Arena } from '../../src/gpu/tensor.ts';
import { parameters, type ModelSpec } from '../../src/nn/graph.ts';
import { initParameters } from '../../src/nn/init.ts';
import { Rng } from '../../src/rng.ts';
import { UserError } from '../../src/errors.ts';
import {
  BRANCHES, applyBranch, branchNames, freshInitSeed, getBranch, parseBranchOptions, resolveBranchOptions,
  type BranchInput,
} from '../../src/lottery/branches/registry.ts';

// A tiny model with every kind of tensor: a prunable conv and linear weight, a non-prunable bias,
// batchnorm γ/β, and sizes that leave alignment padding between tensors.
const spec: ModelSpec = {
  name: 'branch_test_net', input: [3, 8, 8], classes: 100, defaultIgnored: [],
  layers: [
    { op: 'conv', name: 'conv', cin: 3, cout: 32, k: 3, stride: 1, pad: 1, bias: true },
    { op: 'bn', name: 'bn', c: 32 },
    { op: 'linear', name: 'fc', in: 288, out: 100 },
  ],
};
const arena = new Arena('params');
for (const p of parameters(spec.layers)) arena.add(p.name, p.shape);
const layout = arena.layout();
const prunable = new Set(parameters(spec.layers).filter((p) => p.prunable).map((p) => p.name));
const slots = layout.map((e) => ({ ...e, n: e.shape.reduce((a, b) => a * b, 1), prunable: prunable.has(e.name) }));
const inTensor = new Uint8Array(arena.elements); // 1 inside a tensor, 0 in padding
for (const s of slots) inTensor.fill(1, s.offset, s.offset + s.n);

const w0 = initParameters(spec, arena, 1, 'uniform');
const wk = new Float32Array(arena.elements);
const mask = new Float32Array(arena.elements);
{
  const r = new Rng(99);
  for (const s of slots) {
    for (let i = s.offset; i < s.offset + s.n; i++) {
      wk[i] = w0[i]! + 0.05 * r.normal();
      mask[i] = s.prunable ? (r.uniform() < 0.5 ? 1 : 0) : 1;
    }
  }
  // Surviving weights at exactly 0 (and -0) exercise the "zero stays zero" rule.
  const fc = slots.find((s) => s.name === 'fc.weight')!;
  let zeros = 0;
  for (let i = fc.offset; zeros < 6; i++) if (mask[i] === 1) wk[i] = zeros++ % 2 ? 0 : -0;
}

function input(options: Record<string, unknown>, seed = 7): BranchInput<Record<string, unknown>> {
  return { spec, layout, mask, w0, wk, seed, options };
}
const survivorsOf = (name: string) => {
  const s = slots.find((x) => x.name === name)!;
  const out: number[] = [];
  for (let i = s.offset; i < s.offset + s.n; i++) if (mask[i] === 1) out.push(i);
  return out;
};
const sign = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0);
const sorted = (a: number[]) => Float64Array.from(a).sort();
const fresh = initParameters(spec, arena, freshInitSeed(7), 'uniform');

const CASES: [string, Record<string, unknown>][] = [
  ['sign_preserving_reinit', {}],
  ['mix_signs_magnitudes', { signs: 'rewind', magnitudes: 'init' }],
  ['mix_signs_magnitudes', { signs: 'init', magnitudes: 'fresh' }],
  ['shuffle_weights', { mode: 'values' }],
  ['shuffle_weights', { mode: 'magnitudes' }],
  ['gaussian_noise', { alpha: 0.5, scale: 'init_std' }],
  ['gaussian_noise', { alpha: 2, scale: 'effective_std' }],
  ['randomly_reinitialize', {}],
];
const RANDOM = (name: string, o: Record<string, unknown>) => name !== 'mix_signs_magnitudes' || o.magnitudes === 'fresh';

test('the registry lists every branch once, each with a description and option help', () => {
  assert.deepEqual(branchNames(), ['sign_preserving_reinit', 'mix_signs_magnitudes', 'shuffle_weights', 'gaussian_noise', 'randomly_reinitialize']);
  for (const b of BRANCHES) {
    assert.ok(b.description.length > 10, b.name);
    for (const [k, spec] of Object.entries(b.options)) assert.ok(spec.help.length > 10, `${b.name}.${k}`);
    assert.equal(getBranch(b.name), b);
  }
  assert.throws(() => getBranch('sign_preserving'), (e: Error) => e instanceof UserError && /sign_preserving/.test(e.message) && /gaussian_noise/.test(e.message));
});

for (const [name, options] of CASES) {
  const label = `${name} ${JSON.stringify(options)}`;
  test(`${label}: pruned and padding stay 0, inputs untouched, only surviving prunable weights move`, () => {
    const copies = [mask, w0, wk].map((a) => a.slice());
    const out = applyBranch(name, input(options));
    assert.deepEqual([mask, w0, wk], copies, 'inputs modified');
    assert.equal(out.length, wk.length);
    let moved = 0;
    for (let i = 0; i < out.length; i++) {
      if (!inTensor[i]) assert.equal(out[i], 0, `padding ${i}`);
    }
    for (const s of slots) {
      for (let i = s.offset; i < s.offset + s.n; i++) {
        if (s.prunable && mask[i] === 0) assert.equal(out[i], 0, `${s.name} pruned ${i}`);
        else if (!s.prunable && name !== 'randomly_reinitialize') assert.equal(out[i], wk[i], `${s.name} non-prunable ${i}`);
        else if (s.prunable && out[i] !== wk[i]) moved++;
      }
    }
    assert.ok(moved > 1000, `only ${moved} surviving weights changed`);
  });

  test(`${label}: same seed gives identical weights${RANDOM(name, options) ? ', another seed different ones' : ''}`, () => {
    const a = applyBranch(name, input(options, 7));
    assert.deepEqual(applyBranch(name, input(options, 7)), a);
    const b = applyBranch(name, input(options, 8));
    if (RANDOM(name, options)) assert.notDeepEqual(b, a);
    else assert.deepEqual(b, a);
  });
}

test('sign_preserving_reinit: every sign of w_k, magnitudes of a fresh init draw, zeros stay zero', () => {
  const out = applyBranch('sign_preserving_reinit', input({}));
  let zeros = 0;
  for (const name of prunable) {
    for (const i of survivorsOf(name)) {
      assert.equal(sign(out[i]!), sign(wk[i]!), `sign at ${i}`);
      if (wk[i] === 0) { zeros++; assert.equal(out[i], 0); } else assert.equal(Math.abs(out[i]!), Math.abs(fresh[i]!));
    }
  }
  assert.equal(zeros, 6);
  // The fresh draw is not the model's own init even when the branch seed equals the model seed.
  const same = applyBranch('sign_preserving_reinit', input({}, 1));
  const i = survivorsOf('fc.weight')[10]!;
  assert.notEqual(Math.abs(same[i]!), Math.abs(w0[i]!));
});

test('mix_signs_magnitudes: each combination takes signs and magnitudes from where it says', () => {
  const src = { init: w0, rewind: wk, fresh } as const;
  for (const signs of ['init', 'rewind'] as const) {
    for (const magnitudes of ['init', 'rewind', 'fresh'] as const) {
      const out = applyBranch('mix_signs_magnitudes', input({ signs, magnitudes }));
      for (const name of prunable) {
        for (const i of survivorsOf(name)) {
          assert.equal(out[i], sign(src[signs][i]!) * Math.abs(src[magnitudes][i]!), `${signs}/${magnitudes} at ${i}`);
        }
      }
    }
  }
});

test('shuffle_weights values: each layer keeps its multiset of surviving values, in a new order', () => {
  const out = applyBranch('shuffle_weights', input({ mode: 'values' }));
  for (const name of prunable) {
    const idx = survivorsOf(name);
    assert.deepEqual(sorted(idx.map((i) => out[i]!)), sorted(idx.map((i) => wk[i]!)), name);
    assert.ok(idx.filter((i) => out[i] !== wk[i]).length > idx.length * 0.9, `${name} barely permuted`);
  }
});

test('shuffle_weights magnitudes: each layer keeps its multiset of |w| and every position keeps its sign', () => {
  const out = applyBranch('shuffle_weights', input({ mode: 'magnitudes' }));
  for (const name of prunable) {
    const idx = survivorsOf(name);
    assert.deepEqual(sorted(idx.map((i) => Math.abs(out[i]!))), sorted(idx.map((i) => Math.abs(wk[i]!))), name);
    // A zero magnitude (from one of the surviving zeros) carries no sign wherever it lands.
    for (const i of idx) if (wk[i] !== 0 && out[i] !== 0) assert.equal(sign(out[i]!), sign(wk[i]!), `sign at ${i}`);
    assert.ok(idx.filter((i) => out[i] !== wk[i]).length > idx.length * 0.9, `${name} barely permuted`);
  }
});

function noiseStats(out: Float32Array, name: string) {
  const d = survivorsOf(name).map((i) => out[i]! - wk[i]!);
  const mean = d.reduce((a, b) => a + b, 0) / d.length;
  return { mean, std: Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length), n: d.length };
}

test('gaussian_noise init_std: added noise has mean 0 and std alpha * sqrt(2 / fan_in) per layer', () => {
  for (const alpha of [0.25, 3]) {
    const out = applyBranch('gaussian_noise', input({ alpha, scale: 'init_std' }));
    for (const [name, fanIn, tol] of [['fc.weight', 288, 0.03], ['conv.weight', 27, 0.1]] as const) {
      const want = alpha * Math.sqrt(2 / fanIn);
      const { mean, std, n } = noiseStats(out, name);
      assert.ok(Math.abs(std / want - 1) < tol, `${name} α=${alpha}: std ${std} vs ${want}`);
      assert.ok(Math.abs(mean) < 4 * want / Math.sqrt(n), `${name} α=${alpha}: mean ${mean}`);
    }
  }
});

test('gaussian_noise effective_std: std is alpha times the std of w_k - w_0 over surviving weights', () => {
  const out = applyBranch('gaussian_noise', input({ alpha: 2, scale: 'effective_std' }));
  for (const [name, tol] of [['fc.weight', 0.03], ['conv.weight', 0.1]] as const) {
    const d = survivorsOf(name).map((i) => wk[i]! - w0[i]!);
    const m = d.reduce((a, b) => a + b, 0) / d.length;
    const want = 2 * Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / d.length);
    const { std } = noiseStats(out, name);
    assert.ok(Math.abs(std / want - 1) < tol, `${name}: std ${std} vs ${want}`);
  }
  // With w_k = w_0 (k = 0) there is no early-training change, so no noise.
  const still = applyBranch('gaussian_noise', { ...input({ alpha: 2, scale: 'effective_std' }), wk: w0 });
  for (const name of prunable) for (const i of survivorsOf(name)) assert.equal(still[i], w0[i]);
});

test('randomly_reinitialize: every parameter from the fresh draw (OpenLTH), pruned weights 0', () => {
  const out = applyBranch('randomly_reinitialize', input({}));
  for (const s of slots) {
    for (let i = s.offset; i < s.offset + s.n; i++) assert.equal(out[i], s.prunable && mask[i] === 0 ? 0 : fresh[i], `${s.name} ${i}`);
  }
  // batchnorm_init reaches the redrawn γ.
  const fixed = applyBranch('randomly_reinitialize', { ...input({}), bnInit: 'fixed' });
  const bn = slots.find((s) => s.name === 'bn.weight')!;
  assert.deepEqual([...fixed.subarray(bn.offset, bn.offset + bn.n)], new Array(bn.n).fill(1));
});

test('bad options are rejected with a UserError naming the option and the value', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['gaussian_noise', { alpha: 0 }, /gaussian_noise\.alpha.*0/],
    ['gaussian_noise', { alpha: -1 }, /gaussian_noise\.alpha.*-1/],
    ['gaussian_noise', { alpha: 'big' }, /gaussian_noise\.alpha.*big/],
    ['gaussian_noise', { alpha: Number.NaN }, /gaussian_noise\.alpha/],
    ['gaussian_noise', {}, /gaussian_noise\.alpha: missing/],
    ['gaussian_noise', { alpha: 1, scale: 'layer_std' }, /gaussian_noise\.scale.*layer_std.*init_std, effective_std/],
    ['shuffle_weights', { mode: 'signs' }, /shuffle_weights\.mode.*signs/],
    ['mix_signs_magnitudes', { magnitudes: 'init' }, /mix_signs_magnitudes\.signs: missing/],
    ['mix_signs_magnitudes', { signs: 'fresh', magnitudes: 'init' }, /mix_signs_magnitudes\.signs.*fresh/],
    ['sign_preserving_reinit', { alpha: 1 }, /sign_preserving_reinit.*unknown option "alpha"/],
    ['shuffle_weights', { mode: 'values', seed: 3 }, /unknown option "seed".*mode/],
  ];
  for (const [name, options, re] of bad) {
    assert.throws(() => applyBranch(name, input(options)), (e: Error) => e instanceof UserError && re.test(e.message), `${name} ${JSON.stringify(options)}`);
    // A direct call on the branch object checks its options too, not only the by-name path.
    assert.throws(() => getBranch(name).apply(input(options)), UserError);
  }
  assert.throws(() => parseBranchOptions(getBranch('gaussian_noise'), { alpha: '1e' }), /gaussian_noise\.alpha.*1e/);
  assert.deepEqual(parseBranchOptions(getBranch('gaussian_noise'), { alpha: '0.5' }), { alpha: 0.5, scale: 'init_std' });
  assert.deepEqual(resolveBranchOptions(getBranch('shuffle_weights'), {}), { mode: 'values' });
});

test('inconsistent inputs are rejected with a UserError', () => {
  const opts = { mode: 'values' };
  const halfMask = mask.slice(); halfMask[survivorsOf('fc.weight')[0]!] = 0.5;
  const cases: [Partial<BranchInput<Record<string, unknown>>>, RegExp][] = [
    [{ mask: halfMask }, /mask of fc\.weight holds 0\.5/],
    [{ w0: w0.subarray(1) }, /w0 has/],
    [{ seed: -1 }, /seed.*-1/],
    [{ seed: 1.5 }, /seed.*1\.5/],
    [{ layout: [...layout, { name: 'fc2.weight', offset: 0, shape: [2] }] }, /fc2\.weight is not a parameter/],
    [{ layout: layout.map((e) => ({ ...e, offset: e.offset + wk.length })) }, /outside/],
  ];
  for (const [patch, re] of cases) {
    assert.throws(() => applyBranch('shuffle_weights', { ...input(opts), ...patch }), (e: Error) => e instanceof UserError && re.test(e.message), String(re));
  }
  // A layout that is not an Arena's (shifted offsets) cannot be used for a fresh draw.
  const shifted = layout.map((e) => (e.name === 'fc.weight' ? { ...e, offset: e.offset + 64 } : e));
  const big = (a: Float32Array) => { const b = new Float32Array(a.length + 64); b.set(a); return b; };
  assert.throws(() => applyBranch('sign_preserving_reinit', { ...input({}), layout: shifted, mask: big(mask), w0: big(w0), wk: big(wk) }), /pass Arena\.layout\(\) unchanged/);
});
