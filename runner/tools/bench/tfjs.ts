// TensorFlow.js as the benchmark peer, running its webgpu backend on the SAME GPUDevice as our
// Gpu (so: same Dawn instance, same adapter, same driver threads). Node has no navigator.gpu, so
// the backend's own factory (which calls navigator.gpu.requestAdapter()) never registers; we
// register one that hands it our device instead.
import * as tf from '@tensorflow/tfjs-core';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Gpu } from '../../../src/gpu/gpu.ts';

export type Tfjs = typeof tf;
export const TFJS_PEER_NAME = `tfjs-webgpu ${tf.version_core}`;
const BACKEND = 'webgpu';

/**
 * WebGPUBackend's constructor refuses to run unless `navigator.gpu` is truthy. The shim's
 * requestAdapter rejects, so nothing in tfjs can silently pick a different adapter.
 */
function shimNavigatorGpu(): void {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  const gpu = { requestAdapter: () => Promise.reject(new Error('earlyphase: tfjs must use the device it was given')) };
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

/** Returns tfjs-core with the webgpu backend active on `gpu`'s device. Call releaseTfjs before gpu.destroy(). */
export async function tfjsOn(gpu: Gpu): Promise<Tfjs> {
  shimNavigatorGpu();
  if (tf.findBackend(BACKEND)) tf.removeBackend(BACKEND); // a previous Gpu's device (tests open several)
  const info = gpu.adapter;
  const adapterInfo = { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description } as GPUAdapterInfo;
  tf.registerBackend(BACKEND, () => new WebGPUBackend(gpu.device, adapterInfo), 1);
  if (!(await tf.setBackend(BACKEND))) throw new Error('tfjs: could not initialise the webgpu backend on our device');
  await tf.ready();
  return tf;
}

/** Waits until every op tfjs has issued so far has finished on the device (no readback). */
export async function tfjsSync(t: Tfjs): Promise<void> {
  const backend = t.backend() as WebGPUBackend;
  // tfjs keeps an open compute pass and submits only every 15 dispatches; close and submit it
  // the way its own readback path does (an empty encoder is harmless when nothing is pending).
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** Frees tfjs's buffers and forgets the backend, leaving the shared device for its owner to destroy. */
export function releaseTfjs(t: Tfjs): void {
  t.disposeVariables();
  if (t.findBackend(BACKEND)) t.removeBackend(BACKEND);
}
