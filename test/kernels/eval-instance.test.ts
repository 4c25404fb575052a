// An evaluation-only compiled instance (compileModel(..., { backward: false })) shares activation
// buffers by lifetime (src/gpu/reuse.ts); a training instance gives every activation its own
// buffer. Same parameters, same running statistics, same input ⇒ the eval-mode forward of both
// must give bitwise-identical logits: the kernels and their order are the same, only the buffers
// differ, so any wrong aliasing (e.g. a residual block's input overwritten inside its body) shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import { download, upload } from '../../src/gpu/tensor.ts';
import { runDispatches } from '../../src/gpu/dispatch.ts';
import { compileModel } from '../../src/nn/compile.ts';
import { createModelState, destroyModelState } from '../../src/nn/model-state.ts';
import { initParameters, initRunningStats } from '../../src/nn/init.ts';
import { getModel } from '../../src/nn/zoo.ts';
import { Rng } from '../../src/rng.ts';
import { testAdapters } from '../adapters.ts';

const CASES = [
  // n = 2 blocks per segment: identity shortcuts (the block input is read again by the sum) and strided conv shortcuts.
  { spec: getModel('cifar_resnet_14_4', [3, 12, 12]), batch: 3 },
  // conv with bias, max-pool, flatten, linear layers with fused ReLU.
  { spec: getModel('cifar_conv_2', [3, 8, 8]), batch: 2 },
  { spec: getModel('mnist_lenet_30_20'), batch: 5 },
];

/** Runs `f`, counting the bytes of the GPU buffers it creates. */
function allocating<T>(device: GPUDevice, f: () => T): { model: T; bytes: number } {
  const original = device.createBuffer;
  let bytes = 0;
  device.createBuffer = (desc: GPUBufferDescriptor) => { bytes += desc.size; return original.call(device, desc); };
  try {
    return { model: f(), bytes };
  } finally {
    device.createBuffer = original;
  }
}

for (const name of await testAdapters()) {
  test(`[${name}] an evaluation-only instance gives the training instance's eval logits bitwise, with fewer activation bytes`, async () => {
    const gpu = await openGpu(name);
    console.log(`# adapter: ${name}`);
    try {
      for (const { spec, batch } of CASES) {
        const st = createModelState(gpu, spec);
        upload(gpu, st.params.all(), initParameters(spec, st.params, 3, 'uniform'));
        if (st.stats.names.length) upload(gpu, st.stats.all(), initRunningStats(st.stats));
        const rng = new Rng(batch);
        const x = Float32Array.from({ length: batch * spec.input.reduce((a, b) => a * b, 1) }, () => rng.normal());
        const train = allocating(gpu.device, () => compileModel(gpu, st, batch));
        const evalOnly = allocating(gpu.device, () => compileModel(gpu, st, batch, { backward: false }));
        console.log(`# ${spec.name} batch ${batch}: training instance ${train.bytes} bytes, evaluation-only ${evalOnly.bytes}`);
        try {
          assert.ok(evalOnly.bytes < train.bytes, `${spec.name}: the evaluation-only instance allocates ${evalOnly.bytes} bytes, the training one ${train.bytes}`);
          assert.equal(evalOnly.model.backward.length, 0);
          assert.equal(evalOnly.model.forwardTrain.length, 0);
          const logits: Float32Array[] = [];
          for (const { model: m } of [train, evalOnly]) {
            upload(gpu, m.input, x);
            await runDispatches(gpu, m.forwardEval, 'forward-eval');
            logits.push(await download(gpu, m.logits));
          }
          assert.ok(logits[0]!.every(Number.isFinite), `${spec.name}: non-finite logits`);
          assert.deepEqual(new Uint32Array(logits[1]!.buffer), new Uint32Array(logits[0]!.buffer), `${spec.name}: eval-only logits differ`);
        } finally {
          train.model.destroy(); evalOnly.model.destroy(); destroyModelState(st);
        }
      }
    } finally {
      gpu.destroy();
    }
  });
}
