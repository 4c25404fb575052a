// The member-fusing kernel rewrite (src/gpu/memberize.ts) on small WGSL modules: which indices it
// offsets and by how much, per-member uniforms, bindings read through another, the entry wrapper,
// and the kernels it refuses. The rewritten kernels running bitwise-identically to unfused ones
// is test/kernels/train-pack.test.ts's job; this pins the text they are made from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadShaders } from '../../runner/host/dawn.ts';
import { composeShader, shaderModules } from '../../src/gpu/compose.ts';
import { memberize, MEMBER_VAR } from '../../src/gpu/memberize.ts';
import { parseWgsl } from '../../src/gpu/wgsl-module.ts';

const SRC = `override WG: u32 = 64;
struct Params { n: u32, lr: f32 }
@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read> other: array<vec4f>; // another entry's, at the same binding
struct S { w: array<f32, 4> }
fn helper(i: u32) -> f32 { return w[idx[i]]; } // w[x] in a comment is not code
@compute @workgroup_size(WG)
fn step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  var s: S;
  s.w[0] = helper(i);
  w[i] = s.w[0] - p.lr * v[i];
}
@compute @workgroup_size(WG)
fn unrelated(@builtin(global_invocation_id) gid: vec3u) { let x = other[gid.x]; }
`;

const none = { storageStrides: new Map<number, number>(), uniformSlots: new Map<number, number>() };

test('storage bindings with a member stride are indexed at the member\'s slice, nested indices too; fields and comments are left alone', () => {
  const out = memberize(SRC, 'step', 3, { ...none, storageStrides: new Map([[0, 1024], [1, 512]]) });
  assert.match(out, new RegExp(`return w\\[${MEMBER_VAR} \\* 256u \\+ u32\\(idx\\[${MEMBER_VAR} \\* 128u \\+ u32\\(i\\)\\]\\)\\];`));
  assert.match(out, new RegExp(`\\n  w\\[${MEMBER_VAR} \\* 256u \\+ u32\\(i\\)\\] = s\\.w\\[0\\]`), 'binding written; the struct field s.w untouched');
  assert.match(out, /p\.lr \* v\[i\]/, 'a shared binding (stride 0) keeps its index');
  assert.match(out, /\/\/ w\[x\] in a comment is not code/, 'comments stay as written');
  assert.match(out, /let x = other\[gid\.x\]/, 'another entry point\'s binding is untouched');
});

test('the entry point becomes a function of the builtins each member would see alone, called by a wrapper over a K-times deeper grid', () => {
  const out = memberize(SRC, 'step', 4, none);
  assert.match(out, /fn step__member_body\(gid: vec3u, nwg: vec3u\)/);
  assert.match(out, /@compute @workgroup_size\(WG\)\nfn step\(@builtin\(workgroup_id\) m_wid: vec3u/);
  assert.match(out, /let per = m_nwg\.z \/ 4u;/);
  assert.match(out, /let m = m_wid\.z \/ per;/);
  assert.match(out, /let gid = wid \* vec3u\(u32\(WG\), 1u, 1u\) \+ m_lid;/);
  assert.match(out, /step__member_body\(gid, nwg\);/);
  assert.equal((out.match(/@compute/g) ?? []).length, 2, 'the wrapper and the untouched other entry');
});

test('a uniform whose contents differ between members becomes a private copy of the member\'s 256-byte slot', () => {
  const out = memberize(SRC, 'step', 2, { ...none, uniformSlots: new Map([[2, 256]]) });
  assert.match(out, /struct p__slot \{ @size\(256\) v: Params \}/);
  assert.match(out, /@group\(0\) @binding\(2\) var<storage, read> p__members: array<p__slot>;/);
  assert.match(out, /var<private> p: Params;/);
  assert.match(out, new RegExp(`p = p__members\\[${MEMBER_VAR}\\]\\.v;`));
  assert.doesNotMatch(out, /var<uniform>/);
});

test('a binding whose members\' ranges overlap another\'s is read through that one, made read-write, at its byte offset', () => {
  const out = memberize(SRC, 'step', 2, {
    storageStrides: new Map([[0, 1024], [3, 1024]]), uniformSlots: new Map(),
    aliases: new Map([[0, { base: 0, bytes: 0 }], [3, { base: 0, bytes: 64 }]]),
  });
  assert.match(out, new RegExp(`w\\[${MEMBER_VAR} \\* 256u \\+ 16u \\+ u32\\(i\\)\\]`), 'v[i] reads w at 64 bytes in');
  assert.match(out, new RegExp(`w\\[${MEMBER_VAR} \\* 256u \\+ 0u \\+ u32\\(i\\)\\] =`));
  const readBase = memberize(SRC.replace('var<storage, read_write> v:', 'var<storage, read> v:'), 'step', 2, {
    storageStrides: new Map([[0, 1024], [3, 1024]]), uniformSlots: new Map(),
    aliases: new Map([[0, { base: 3, bytes: 64 }], [3, { base: 3, bytes: 0 }]]),
  });
  assert.match(readBase, /@group\(0\) @binding\(3\) var<storage, read_write> v: array<f32>;/, 'a read-only base is made read-write');
  assert.match(readBase, new RegExp(`\\n  v\\[${MEMBER_VAR} \\* 256u \\+ 16u \\+ u32\\(i\\)\\] = `), 'w[i] is written through v');
  assert.throws(() => memberize(SRC, 'step', 2, {
    storageStrides: new Map([[1, 1024], [3, 1024]]), uniformSlots: new Map(), aliases: new Map([[3, { base: 1, bytes: 0 }]]),
  }), /cannot be read through binding 1/, 'a u32 array cannot stand in for an f32 one');
});

test('kernels it cannot rewrite are refused with the reason (the fuser then runs them once per member)', () => {
  assert.throws(() => memberize(SRC, 'nope', 2, none), /no entry point nope/);
  assert.throws(() => memberize(SRC.replace('if (i >= p.n)', 'if (i >= arrayLength(&w))'), 'step', 2, none), /arrayLength/);
  assert.throws(() => memberize(SRC.replace('nwg: vec3u)', 'nwg: vec3u, extra: u32)'), 'step', 2, none), /not a supported builtin/);
  assert.throws(() => memberize(SRC, 'step', 2, { ...none, storageStrides: new Map([[0, 1026]]) }), /not a multiple/);
  assert.throws(() => memberize(SRC, 'step', 2, { ...none, uniformSlots: new Map([[5, 256]]) }), /no uniform declared at binding 5/);
  assert.throws(() => memberize(SRC, 'step', 2, { ...none, storageStrides: new Map([[7, 256]]) }), /no variable declared at binding 7/);
  assert.throws(() => memberize(SRC.replace('fn helper(i: u32)', 'fn helper((i: u32)'), 'step', 2, none), /the WGSL parser refused the module/);
  assert.throws(() => memberize(SRC.replace('@group(0) @binding(1)', '@group(1) @binding(1)'), 'step', 2, none), /bind group 1/);
});

test('a parameter or local of a binding\'s name is not the binding: its indices stay, the binding\'s before and after it are offset', () => {
  const src = SRC.replace('fn helper(i: u32) -> f32 { return w[idx[i]]; }',
    'fn helper(i: u32) -> f32 { let a = w[i] + take(array<f32, 4>(0.0, 0.0, 0.0, 0.0)); { var w: array<f32, 2>; w[1] = a; } for (var w = 0u; w < 1u; w++) { let b = w; } return w[idx[i]]; }\n'
    + 'fn take(w: array<f32, 4>) -> f32 { return w[0]; }');
  const out = memberize(src, 'step', 2, { ...none, storageStrides: new Map([[0, 1024], [1, 512]]) });
  const off = (name: string, i: string) => `${name}\\[${MEMBER_VAR} \\* ${name === 'w' ? 256 : 128}u \\+ u32\\(${i}\\)\\]`;
  assert.match(out, new RegExp(`let a = ${off('w', 'i')} \\+ take\\(`), 'before the block: the binding');
  assert.match(out, /\{ var w: array<f32, 2>; w\[1\] = a; \}/, 'the block\'s local');
  assert.match(out, /for \(var w = 0u; w < 1u; w\+\+\) \{ let b = w; \}/, 'the loop\'s counter');
  assert.match(out, new RegExp(`return ${off('w', off('idx', 'i'))};`), 'after the block and the loop: the binding again');
  assert.match(out, /fn take\(w: array<f32, 4>\) -> f32 \{ return w\[0\]; \}/, 'a parameter');
});

test('declarations are read by a WGSL parser: attribute order, spacing and line breaks do not hide a binding', () => {
  const src = SRC.replace('@group(0) @binding(1) var<storage, read> idx: array<u32>;', '@binding(1)\n  @group(0) var<storage,read>idx :array< u32 >;');
  const out = memberize(src, 'step', 2, { ...none, storageStrides: new Map([[1, 512]]) });
  assert.match(out, new RegExp(`w\\[idx\\[${MEMBER_VAR} \\* 128u \\+ u32\\(i\\)\\]\\]`));
});

test('the parser reads every module of shaders/ as composed (subgroups, overrides, parts): every binding and entry point', () => {
  const sources = loadShaders();
  for (const file of shaderModules(sources)) {
    const { code } = composeShader(sources, file);
    const m = parseWgsl(code);
    const declared = code.split('\n').filter((l) => /^@group\(0\) @binding\(\d+\)/.test(l)).length;
    assert.equal(m.bindings.length, declared, `${file}: bindings`);
    const entries = [...m.functions.values()].filter((f) => f.workgroupSize !== null).map((f) => f.name);
    assert.deepEqual(entries.sort(), [...code.matchAll(/@compute @workgroup_size\([^)]*\)\s*fn (\w+)/g)].map((x) => x[1]).sort(), `${file}: entry points`);
    for (const e of entries) assert.match(memberize(code, e, 2, none), new RegExp(`fn ${e}__member_body\\(`), `${file}:${e}`);
  }
});
