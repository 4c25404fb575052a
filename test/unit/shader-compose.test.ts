// The composition of WGSL modules from shaders/ files (src/gpu/compose.ts): include order, parts
// compiled only inside their includers, directives and type aliases in the prelude, the segment
// table that maps a module line back to its file and line, and the errors for bad includes. That
// Dawn's error positions come back through that table is test/kernels/gpu-errors.test.ts's job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeShader, shaderModules, shaderParts, sourceLine } from '../../src/gpu/compose.ts';
import { loadShaders } from '../../runner/host/dawn.ts';

const SOURCES = {
  'base.wgsl': 'const B: u32 = 1u;\nfn base() -> u32 { return B; }\n',
  'mid.wgsl': '// #include "base.wgsl"\nfn mid() -> u32 { return base() + 1u; }\n',
  'other.wgsl': '// #include "base.wgsl"\nfn other() -> act_t { return act_t(base()); }\n',
  'top.wgsl': 'enable subgroups;\n// #include "mid.wgsl"\n// #include "other.wgsl"\n@compute @workgroup_size(1)\nfn top_forward() { let x = mid() + u32(other()); }\n',
};

/** The composed module's lines that hold code (not the prelude's comment, not the markers). */
function bodyOf(code: string): string[] {
  return code.split('\n').filter((l) => l !== '' && !l.startsWith('// shaders/') && !l.startsWith('// ----'));
}

test('includes come first, each once, in the order the lines name them, and every line maps back to its file and line', () => {
  const c = composeShader(SOURCES, 'top.wgsl', { aliases: { act_t: 'f32' } });
  assert.deepEqual(c.segments.map((s) => s.file), ['base.wgsl', 'mid.wgsl', 'other.wgsl', 'top.wgsl'], 'base once although two files include it');
  const lines = c.code.split('\n');
  for (const s of c.segments) {
    const file = SOURCES[s.file as keyof typeof SOURCES].replace(/\n$/, '').split('\n');
    assert.equal(s.lines, file.length, `${s.file}: line count`);
    file.forEach((text, i) => {
      assert.deepEqual(sourceLine(c, s.start + i), { file: s.file, line: i + 1 });
      if (!text.startsWith('enable')) assert.equal(lines[s.start + i - 1], text, `${s.file}:${i + 1} stands at module line ${s.start + i}`);
    });
  }
  assert.equal(sourceLine(c, 1), null, 'the prelude belongs to no file');
});

test('directives move to the prelude (a comment keeps their line), aliases are declared there, f16 enables f16', () => {
  const c = composeShader(SOURCES, 'top.wgsl', { aliases: { act_t: 'f32' } });
  const body = bodyOf(c.code);
  assert.deepEqual(body.slice(0, 2), ['enable subgroups;', 'alias act_t = f32;'], 'the prelude: directives, then aliases');
  assert.equal(body.filter((l) => /^\s*enable/.test(l)).length, 1, 'no directive left after a declaration');
  assert.deepEqual(c.directives, ['enable subgroups;']);
  const top = c.segments.find((s) => s.file === 'top.wgsl')!;
  assert.equal(c.code.split('\n')[top.start - 1], '// enable subgroups; (moved to the prelude)');
  const half = composeShader(SOURCES, 'top.wgsl', { aliases: { act_t: 'f16' } });
  assert.deepEqual(half.directives, ['enable f16;', 'enable subgroups;']);
  assert.ok(half.code.includes('\nalias act_t = f16;\n'));
  assert.throws(() => composeShader(SOURCES, 'top.wgsl', { aliases: { 'act t': 'f32' } }), /not a WGSL name and type/);
});

test('files that others include are parts; the rest are the modules compiled', () => {
  assert.deepEqual([...shaderParts(SOURCES)].sort(), ['base.wgsl', 'mid.wgsl', 'other.wgsl']);
  assert.deepEqual(shaderModules(SOURCES), ['top.wgsl']);
});

test('a missing, malformed or circular include is an error naming the file and line', () => {
  assert.throws(() => composeShader({ ...SOURCES, 'mid.wgsl': 'fn mid() -> u32 { return 1u; }\n// #include "gone.wgsl"\n' }, 'top.wgsl'),
    /^Error: shaders\/mid\.wgsl:2: includes "gone\.wgsl", which shaders\/ does not have$/);
  assert.throws(() => composeShader({ ...SOURCES, 'mid.wgsl': '// #include base.wgsl\n' }, 'top.wgsl'), /shaders\/mid\.wgsl:1: malformed include/);
  assert.throws(() => composeShader({ ...SOURCES, 'base.wgsl': '// #include "top.wgsl"\n' }, 'top.wgsl'),
    /shaders\/top\.wgsl: includes itself through top\.wgsl → mid\.wgsl → base\.wgsl → top\.wgsl/);
  assert.throws(() => composeShader(SOURCES, 'none.wgsl'), /shader none\.wgsl not found/);
});

test('every file of shaders/ composes, and only parts lack an entry point', () => {
  const sources = loadShaders();
  const parts = shaderParts(sources);
  for (const f of Object.keys(sources)) {
    const c = composeShader(sources, f);
    assert.equal(/@compute/.test(sources[f]!), !parts.has(f), `${f}: a module has entry points, a part has none`);
    assert.ok(c.segments.at(-1)!.file === f);
  }
});
