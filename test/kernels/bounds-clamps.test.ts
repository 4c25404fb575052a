// The GPU set's GEMM and convolution kernels compile without bounds clamps on workgroup and
// function memory: their index arithmetic is written so that Dawn's range analysis proves it in
// range (see shaders/linear_large.wgsl; a clamp in the large GEMM's k loop costs an add and a min
// per read), and the large GEMM's k loop has no loop guard either. The clamps are counted in the
// SPIR-V Dawn generates (runner/tools/bounds-clamps.ts), per adapter, since Dawn's robustness settings
// depend on the device.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ClampSpec, countBoundsClamps, entryPoints, parseDump } from '../../runner/tools/bounds-clamps.ts';
import { loadShaders } from '../../runner/host/dawn.ts';
import { composeShader } from '../../src/gpu/compose.ts';
import { memberize } from '../../src/gpu/memberize.ts';
import { fastestTestAdapter, testAdapters } from '../adapters.ts';

const adapters = await testAdapters();
const fastest = await fastestTestAdapter();
console.log(`# adapters: ${adapters.join(', ')} (every tuning on ${fastest})`);

// Every tuning of the large GEMM the host can pick (src/kernels/linear.ts), with vec4 and scalar
// operand loads.
const GEMM_TUNINGS: Record<string, number>[] = [{}, { BK: 16 }, { DOUBLE: 0 }, { DOUBLE: 0, BK: 16 }, { LANE_W: 4 }, { LANE_W: 16 }];
const gemmSpecs: ClampSpec[] = entryPoints(composeShader(loadShaders(), 'linear_large.wgsl').code).flatMap((entry) =>
  GEMM_TUNINGS.flatMap((t) => [0, 1].map((vec) => ({ shader: 'linear_large.wgsl', entry, constants: { ...t, A_VEC: vec, B_VEC: vec } }))));
// linear.wgsl's 64×64 tiled body, the GPU set's GEMM for the smaller shapes.
const tiledSpecs: ClampSpec[] = ['matmul_forward', 'linear_forward', 'linear_backward_weight'].map((entry) =>
  ({ shader: 'linear.wgsl', entry, constants: { TILED: 1, WGX: 16, WGY: 16 } }));
const CONV_ENTRIES: [string, string][] = [['conv2d_forward.wgsl', 'conv2d_forward'], ['conv2d_forward.wgsl', 'conv2d_forward_columns'],
  ['conv2d_backward_input.wgsl', 'conv2d_backward_input'], ['conv2d_backward_input.wgsl', 'conv2d_backward_input_columns'],
  ['conv2d_backward_weight.wgsl', 'conv2d_backward_weight']];
const convSpecs: ClampSpec[] = CONV_ENTRIES.map(([shader, entry]) => ({ shader, entry }));
// A pack's member-fused kernels (src/gpu/memberize.ts) hand the builtins to the original body as
// parameters, where the range analysis no longer knows them: the kernels must stay clamp-free.
const MiB = 1 << 20;
const fusedSpecs: ClampSpec[] = [
  { shader: 'linear_large.wgsl', entry: 'matmul_forward', layout: [0, 1, 3, 5, 6] },
  { shader: 'conv2d_forward.wgsl', entry: 'conv2d_forward_columns', layout: [0, 1, 3, 4] },
].map(({ shader, entry, layout }) => ({
  shader: `${shader} (pack of 4)`, entry,
  code: memberize(composeShader(loadShaders(), shader).code, entry, 4, { storageStrides: new Map(layout.map((b) => [b, MiB])), uniformSlots: new Map() }),
}));
// A kernel that does keep clamps (a reduction tree over workgroup memory with a halving stride,
// which the analysis cannot follow): shows the counter sees them.
const control: ClampSpec = { shader: 'batchnorm.wgsl', entry: 'batchnorm_stats_forward' };

for (const adapter of adapters) {
  // Tint's output differs between devices only through their robustness settings, so the other
  // adapters (SwiftShader compiles slowly) check one kernel of each kind.
  const specs = adapter === fastest
    ? [...gemmSpecs, ...tiledSpecs, ...convSpecs, ...fusedSpecs]
    : [gemmSpecs.find((s) => s.entry === 'linear_forward' && s.constants!.A_VEC === 1 && Object.keys(s.constants!).length === 2)!,
      tiledSpecs[0]!, convSpecs[0]!, fusedSpecs[0]!];
  test(`${adapter}: the GEMMs and convolutions of the GPU set compile without bounds clamps`, async () => {
    const counts = await countBoundsClamps([...specs, control], adapter);
    const clamped = counts.slice(0, -1).filter((c) => c.clamps !== 0)
      .map((c) => `${c.spec.shader}:${c.spec.entry} ${JSON.stringify(c.spec.constants ?? {})}: ${c.clamps}`);
    assert.deepEqual(clamped, [], 'kernels with clamps');
    // The large GEMM's k loop also carries no loop guard (a countdown per slab; see its k loop).
    const guarded = counts.filter((c) => c.spec.shader === 'linear_large.wgsl' && c.loopGuards !== 0).map((c) => `${c.spec.entry}: ${c.loopGuards}`);
    assert.deepEqual(guarded, [], 'large GEMMs with loop guards');
    assert.ok(counts.at(-1)!.clamps > 0, `the control kernel ${control.entry} shows no clamps: the counter is blind`);
  });
}

test('parseDump attributes each SPIR-V dump (clamps, length checks, loop guards) to the kernel after its marker, and refuses a missing dump', () => {
  const specs: ClampSpec[] = [{ shader: 'a.wgsl', entry: 'a' }, { shader: 'b.wgsl', entry: 'b' }];
  const dump = [
    '// earlyphase bounds-clamps marker 0',
    '/* Dumped SPIRV disassembly */',
    '  %1 = OpExtInst %uint %2 UMin %3 %uint_7',
    '  %4 = OpArrayLength %uint %5 0',
    '// earlyphase bounds-clamps marker 1',
    '/* Dumped SPIRV disassembly */',
    '  %6 = OpExtInst %v4uint %2 UMin %7 %8',
    '  %9 = OpExtInst %int %2 SMin %7 %int_3',
    '  %10 = OpAll %bool %11',
  ].join('\n');
  // Only mins against a constant are memory clamps: a vector min or one against a computed limit is not.
  assert.deepEqual(parseDump(dump, specs), [{ constMins: 1, lengths: 1, guards: 0 }, { constMins: 1, lengths: 0, guards: 1 }]);
  assert.throws(() => parseDump(dump.split('\n').slice(0, 5).join('\n'), specs), /expected one SPIR-V dump for b\.wgsl:b \{\}, found 0/);
});
