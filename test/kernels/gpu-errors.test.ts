// The Gpu wrapper's failure modes: WGSL compile errors name file and line; shape mismatches
// throw before any dispatch is created; a lost device is reported instead of hanging; work WebGPU
// refused outside an error scope fails the next step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu, loadShaders, requestAdapter } from '../../runner/host/dawn.ts';
import { Gpu } from '../../src/gpu/gpu.ts';
import { ShaderCompileError, ShapeError, GpuUnavailableError } from '../../src/gpu/errors.ts';
import { createTensor } from '../../src/gpu/tensor.ts';
import { reluForward } from '../../src/kernels/elementwise.ts';
import { runDispatches } from '../../src/gpu/dispatch.ts';
import { fastestTestAdapter } from '../adapters.ts';

// Any adapter shows these failure modes; the name is printed so the log says which one ran.
const adapter = await fastestTestAdapter();
console.log(`# adapter: ${adapter}`);

test('WGSL compile error names shaders/<file>:<line>', async () => {
  const broken = `// line 1\n@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = undefined_thing;\n}\n`;
  const gpu = await Gpu.open(await requestAdapter(adapter), { ...loadShaders(), 'broken.wgsl': broken });
  try {
    await assert.rejects(gpu.compileAll(['broken.wgsl']), (e: Error) =>
      e instanceof ShaderCompileError && /shaders\/broken\.wgsl:4:\d+: .*undefined_thing/.test(e.message));
  } finally {
    gpu.destroy();
  }
});

test('a compile error in an included file names that file and its line, not the composed module\'s', async () => {
  const part = `// a part\nfn helper() -> f32 {\n  return undefined_in_part;\n}\n`;
  const main = `// #include "broken_part.wgsl"\n@compute @workgroup_size(1)\nfn main() { let x = helper(); }\n`;
  const gpu = await Gpu.open(await requestAdapter(adapter), { ...loadShaders(), 'broken_part.wgsl': part, 'broken_main.wgsl': main });
  try {
    await assert.rejects(gpu.compileAll(['broken_main.wgsl']), (e: Error) => e instanceof ShaderCompileError
      && /^WGSL compile error in shaders\/broken_main\.wgsl\nshaders\/broken_part\.wgsl:3:\d+: .*undefined_in_part/.test(e.message));
  } finally {
    gpu.destroy();
  }
});

test('shape mismatch throws ShapeError naming the tensors, before any dispatch', async () => {
  const gpu = await openGpu(adapter);
  try {
    const x = createTensor(gpu, 'x', [10]), y = createTensor(gpu, 'y', [11]);
    const before = gpu.pipelineCount;
    assert.throws(() => reluForward(gpu, x, y), (e: Error) => e instanceof ShapeError && /y has 11 elements, expected 10/.test(e.message));
    assert.equal(gpu.pipelineCount, before, 'no pipeline may be created for a rejected call');
  } finally {
    gpu.destroy();
  }
});

test('work on a destroyed (lost) device is reported, not a hang', async () => {
  const gpu = await openGpu(adapter);
  const x = createTensor(gpu, 'x', [10]), y = createTensor(gpu, 'y', [10]);
  const d = reluForward(gpu, x, y);
  gpu.device.destroy(); // simulates loss: the device's lost promise resolves
  await gpu.device.lost;
  await new Promise((r) => setTimeout(r, 10));
  await assert.rejects(runDispatches(gpu, [d]), (e: Error) => e instanceof GpuUnavailableError && /device lost/.test(e.message));
});

test('work WebGPU refused outside any error scope fails the next step instead of leaving wrong results', async () => {
  const gpu = await openGpu(adapter);
  try {
    const x = createTensor(gpu, 'x', [4]), y = createTensor(gpu, 'y', [4]);
    const d = reluForward(gpu, x, y);
    await runDispatches(gpu, [d]); // fine so far
    gpu.device.createBuffer({ label: 'bad-usage', size: 4, usage: 0x01 | 0x80 }); // MAP_READ with STORAGE: refused
    await gpu.device.queue.onSubmittedWorkDone();
    // The error event is delivered asynchronously: wait for it (checkAlive throws once it has come).
    const refused = async () => { try { gpu.checkAlive(); return null; } catch (e) { return e as Error; } };
    let error: Error | null = null;
    for (const t0 = Date.now(); !(error = await refused()); await new Promise((r) => setTimeout(r, 10))) assert.ok(Date.now() - t0 < 30_000, 'the refusal was never reported');
    assert.match(error.message, /WebGPU refused work earlyphase gave it.*bad-usage/s);
    await assert.rejects(runDispatches(gpu, [d]), /WebGPU refused work/);
  } finally {
    gpu.destroy();
  }
});
