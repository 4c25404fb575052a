// Node's side of src/gpu: Dawn through the `webgpu` npm package. Makes both CPU Vulkan drivers
// visible (lavapipe from Mesa, SwiftShader from Debian's chromium), lists adapters, and opens
// a Gpu on the one the user picked.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AdapterClass, Gpu } from '../../src/gpu/gpu.ts';
import type { ShaderSources } from '../../src/gpu/compose.ts';
import { UserError } from '../../src/errors.ts';
import { GpuUnavailableError } from '../../src/gpu/errors.ts';
import { privateRuntimeDir } from './runtime-dir.ts';
import { dawnPolling, devicePolling } from './dawn-polling.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export const INSTALL_HINT =
  'install a Vulkan driver: on Debian 12 run `bash runner/setup.sh` as root (Vulkan loader libvulkan1, ' +
  'Mesa lavapipe >= 23 from bookworm-backports, chromium for SwiftShader), or a GPU vendor driver';

type DawnModule = { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
let dawn: DawnModule | null = null;

/**
 * Every GPU instance we create stays referenced until exit. Dawn-node schedules ProcessEvents
 * callbacks on an instance; if the JS object is garbage-collected first, the callback runs on a
 * freed instance (seen as random "futex facility" aborts and segfaults under lavapipe).
 */
const liveInstances: GPU[] = [];
function createInstance(create: DawnModule['create'], flags: string[]): GPU {
  const gpu = create(flags);
  liveInstances.push(gpu);
  return gpu;
}

/** Loads dawn.node once, after the environment the Vulkan loader reads is set. */
async function loadDawn(): Promise<DawnModule> {
  if (dawn) return dawn;
  // Mesa warns without XDG_RUNTIME_DIR; give it a private folder (runner/host/runtime-dir.ts) that
  // does not pile up in the temp folder, one per run.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = privateRuntimeDir();
  // SwiftShader's ICD is not in the loader's search path; add it beside the system drivers
  // unless the user chose drivers explicitly.
  if (existsSync(SWIFTSHADER_ICD) && !process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES) {
    const extra = process.env.VK_ADD_DRIVER_FILES;
    if (!extra?.includes(SWIFTSHADER_ICD)) process.env.VK_ADD_DRIVER_FILES = extra ? `${extra}:${SWIFTSHADER_ICD}` : SWIFTSHADER_ICD;
  }
  let mod: DawnModule;
  try {
    mod = (await import('webgpu')) as unknown as DawnModule;
  } catch (e) {
    throw new GpuUnavailableError(`cannot load Dawn (npm package webgpu): ${(e as Error).message}; run npm ci`);
  }
  Object.assign(globalThis, mod.globals);
  dawn = mod;
  return mod;
}

export interface DawnAdapterEntry { name: string; backend: string }

/**
 * Dawn-node has no enumeration call; asking for an adapter that cannot exist makes it throw with
 * the list of available adapters, which we parse.
 */
export async function listAdapters(): Promise<DawnAdapterEntry[]> {
  const { create } = await loadDawn();
  try {
    await createInstance(create, ['adapter=earlyphase-list-adapters-no-such-name']).requestAdapter();
  } catch (e) {
    const out: DawnAdapterEntry[] = [];
    for (const m of String((e as Error).message).matchAll(/backend: '([^']*)', name: '([^']*)'/g)) {
      out.push({ backend: m[1]!, name: m[2]! });
    }
    return out;
  }
  return [];
}

/** Real GPUs first, then lavapipe, then SwiftShader (slowest): the default when none is named. */
function rank(name: string): number {
  const n = name.toLowerCase();
  if (n.includes('swiftshader')) return 2;
  if (n.includes('llvmpipe')) return 1;
  return 0;
}

/** Picks the adapter named by `--adapter` / EARLYPHASE_ADAPTER (substring, case-insensitive). */
export async function resolveAdapterName(wanted?: string): Promise<string> {
  const adapters = await listAdapters();
  if (adapters.length === 0) throw new GpuUnavailableError(`no WebGPU adapter found; ${INSTALL_HINT}`);
  const want = wanted ?? process.env.EARLYPHASE_ADAPTER;
  if (!want) return [...adapters].sort((a, b) => rank(a.name) - rank(b.name))[0]!.name;
  const aliases: Record<string, string> = { lavapipe: 'llvmpipe' };
  const needle = (aliases[want.toLowerCase()] ?? want).toLowerCase();
  const hit = adapters.find((a) => a.name.toLowerCase().includes(needle));
  if (!hit) {
    throw new GpuUnavailableError(`adapter "${want}" not found; available: ${adapters.map((a) => `"${a.name}"`).join(', ')}`);
  }
  return hit.name;
}

let shaderCache: ShaderSources | null = null;
export function loadShaders(): ShaderSources {
  if (!shaderCache) {
    const dir = join(ROOT, 'shaders');
    const out: Record<string, string> = {};
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort()) out[f] = readFileSync(join(dir, f), 'utf8');
    shaderCache = out;
  }
  return shaderCache;
}

/** The GPUAdapter for the named (or best) adapter. */
export async function requestAdapter(adapterName?: string): Promise<GPUAdapter | null> {
  const name = await resolveAdapterName(adapterName);
  const { create } = await loadDawn();
  // Dawn rounds timestamp queries down to 65.536 µs unless this toggle is off (a browser's
  // anti-fingerprinting measure); `earlyphase profile` times single dispatches and needs them whole.
  const flags = [`adapter=${name}`, 'disable-dawn-features=timestamp_quantization'];
  const toggles = dawnToggles();
  if (toggles.length) flags.push(`enable-dawn-features=${toggles.join(',')}`);
  return createInstance(create, flags).requestAdapter();
}

/**
 * EARLYPHASE_DAWN_TOGGLES=name,…: Dawn toggles to enable on the adapter and device, for measuring
 * what Dawn's safety work costs on a GPU (e.g. disable_robustness: no bounds clamping of buffer
 * accesses; our kernels clamp their own indices). Checked before any GPU work.
 */
export function dawnToggles(): string[] {
  const names = (process.env.EARLYPHASE_DAWN_TOGGLES ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  for (const n of names) {
    if (!/^[a-z][a-z0-9_]*$/.test(n)) throw new UserError(`EARLYPHASE_DAWN_TOGGLES: "${n}" is not a Dawn toggle name (lower case and _, e.g. disable_robustness)`);
  }
  return names;
}

/** EARLYPHASE_KERNELS=cpu|gpu: the kernel set to use instead of the adapter's class (checked before any GPU work). */
export function kernelsOverride(): AdapterClass | null {
  const v = process.env.EARLYPHASE_KERNELS;
  if (v === undefined || v === '') return null;
  if (v !== 'cpu' && v !== 'gpu') throw new UserError(`EARLYPHASE_KERNELS=${v}: expected cpu or gpu (the kernel set; unset it to pick by adapter)`);
  return v;
}

/** EARLYPHASE_TUNE=name=value,…: numeric tuning overrides (see Gpu.tune), checked before any GPU work. */
export function tuneOverrides(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of (process.env.EARLYPHASE_TUNE ?? '').split(',').map((t) => t.trim()).filter(Boolean)) {
    const m = /^([A-Za-z][A-Za-z0-9]*)=(-?[0-9.]+)$/.exec(item);
    if (!m || !Number.isFinite(Number(m[2]))) throw new UserError(`EARLYPHASE_TUNE: "${item}" is not name=number (e.g. convSplitThreads=65536)`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Opens a device on the named (or best) adapter, with every shader compiled and checked. */
export async function openGpu(adapterName?: string): Promise<Gpu> {
  const kernels = kernelsOverride();
  const tune = tuneOverrides();
  dawnPolling();
  const g = await Gpu.open(await requestAdapter(adapterName), loadShaders(), INSTALL_HINT);
  g.whenDestroyed(devicePolling(g.adapter.class));
  if (kernels) g.kernels = kernels;
  g.tune = tune;
  try {
    await g.compileAll();
  } catch (e) {
    g.destroy();
    throw e;
  }
  return g;
}
