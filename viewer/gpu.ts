// The browser's side of src/gpu: navigator.gpu instead of Dawn; everything after the adapter is
// the same Gpu class the Node runner uses.
import { Gpu } from '../src/gpu/gpu.ts';
import type { ShaderSources } from '../src/gpu/compose.ts';
import { GpuUnavailableError } from '../src/gpu/errors.ts';

export const BROWSER_HINT =
  'this page needs WebGPU: use Chrome/Chromium 113+ or another browser with WebGPU enabled ' +
  '(on Linux start Chromium with --enable-unsafe-webgpu; in Firefox set dom.webgpu.enabled)';

export async function openBrowserGpu(shaders: ShaderSources): Promise<Gpu> {
  const nav = globalThis.navigator as Navigator | undefined;
  if (!nav?.gpu) throw new GpuUnavailableError(`navigator.gpu is missing: ${BROWSER_HINT}`);
  const adapter = await nav.gpu.requestAdapter();
  const gpu = await Gpu.open(adapter, shaders, `the browser offered no adapter: ${BROWSER_HINT}`);
  await gpu.compileAll();
  return gpu;
}
