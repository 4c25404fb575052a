// The one GPU interface the engine uses. Node (Dawn via the `webgpu` package) and the browser
// (navigator.gpu) differ only in how they obtain a GPUAdapter and the shader sources; everything
// after requestDevice() is shared.
import { type ComposedShader, composeShader, shaderModules, sourceLine, type ShaderSources } from './compose.ts';
import { GpuUnavailableError, ShaderCompileError } from './errors.ts';
import type { SlabScope, Slice } from './slabs.ts';
import { align } from './align.ts';

/** Device features a WGSL `enable` directive needs. */
const ENABLE_FEATURES: Record<string, string> = { 'enable subgroups;': 'subgroups', 'enable f16;': 'shader-f16' };

export type AdapterClass = 'cpu' | 'gpu';

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Short stable name used in test output and run metadata: "llvmpipe", "swiftshader", … */
  shortName: string;
  /** CPU Vulkan drivers want different kernel variants than real GPUs (docs/architecture.md, "Kernel sets"). */
  class: AdapterClass;
}

export function describeAdapter(info: GPUAdapterInfo): AdapterDescription {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  const shortName = text.includes('llvmpipe') || text.includes('lavapipe') ? 'llvmpipe'
    : text.includes('swiftshader') ? 'swiftshader'
    : (info.description || info.device || info.vendor || 'unknown').replace(/\s+/g, '-').toLowerCase();
  const isCpu = shortName === 'llvmpipe' || shortName === 'swiftshader' || text.includes('software')
    || text.includes('warp') || text.includes('cpu');
  return {
    vendor: info.vendor, architecture: info.architecture, device: info.device,
    description: info.description, shortName, class: isCpu ? 'cpu' : 'gpu',
  };
}

interface PipelineKey {
  shader: string; entry: string; constants?: Record<string, number>;
  /** WGSL generated from `shader` (a member-fused variant, src/gpu/memberize.ts) instead of the file itself. */
  code?: string;
}

/**
 * A device plus the caches every kernel shares: shader modules, bind-group layouts, pipelines.
 * Labels every object it creates so Dawn's validation messages name the culprit.
 */
export class Gpu {
  readonly adapter: AdapterDescription;
  private readonly composedShaders = new Map<string, ComposedShader>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly generated = new Map<string, GPUShaderModule>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  /**
   * Lanes per subgroup when the device has the `subgroups` feature and the adapter runs every
   * subgroup at one fixed size (CPU drivers: lavapipe 8, SwiftShader 4); null otherwise.
   */
  readonly subgroupSize: number | null;
  /**
   * The kernel set the wrappers pick by default: the adapter's class, unless the host overrides
   * it (EARLYPHASE_KERNELS, to compare both sets on one adapter). Results differ between sets.
   */
  kernels: AdapterClass;
  /**
   * Tuning overrides by name (EARLYPHASE_TUNE=name=value,…), for comparing kernel variants on one
   * GPU in one run; each kernel module documents its names and defaults. Empty normally.
   */
  tune: Readonly<Record<string, number>> = {};
  private lostReason: string | null = null;
  private uncaptured: string | null = null;
  private destroyed = false;

  private constructor(readonly device: GPUDevice, info: GPUAdapterInfo, readonly shaders: ShaderSources) {
    this.adapter = describeAdapter(info);
    this.kernels = this.adapter.class;
    const { subgroupMinSize: min, subgroupMaxSize: max } = info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
    this.subgroupSize = device.features.has('subgroups') && min && min === max ? min : null;
    device.lost.then((e) => {
      if (!this.destroyed) this.lostReason = `${e.reason}: ${e.message}`;
    });
    // An error no error scope caught means a command buffer was refused and its work silently not
    // done: later results would be wrong without a word. Every step checks for it (checkAlive).
    device.addEventListener?.('uncapturederror', (e) => {
      this.uncaptured ??= (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  /** Requests a device with the adapter's full storage limits (lavapipe allows 128 MiB bindings). */
  static async open(adapter: GPUAdapter | null, shaders: ShaderSources, hint = ''): Promise<Gpu> {
    if (!adapter) throw new GpuUnavailableError(`no WebGPU adapter found${hint ? ': ' + hint : ''}`);
    const l = adapter.limits;
    const requiredFeatures: GPUFeatureName[] = [];
    if (adapter.features.has('timestamp-query')) requiredFeatures.push('timestamp-query');
    if (adapter.features.has('subgroups' as GPUFeatureName)) requiredFeatures.push('subgroups' as GPUFeatureName);
    const device = await adapter.requestDevice({
      label: 'earlyphase',
      requiredFeatures,
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
        maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      },
    });
    return new Gpu(device, adapter.info, shaders);
  }

  get hasTimestamps(): boolean { return this.device.features.has('timestamp-query'); }

  /** Throws if the device was lost: the caller reports it instead of waiting forever. */
  checkAlive(): void {
    if (this.lostReason) throw new GpuUnavailableError(`GPU device lost (${this.lostReason})`);
    if (this.uncaptured) throw new Error(`WebGPU refused work earlyphase gave it, so results would be wrong (a bug: please report it with this message): ${this.uncaptured}`);
  }

  /** The WGSL module of shader file `file`: the file with the parts it includes (compose.ts). */
  composed(file: string): ComposedShader {
    let c = this.composedShaders.get(file);
    if (!c) {
      c = composeShader(this.shaders, file);
      this.composedShaders.set(file, c);
    }
    return c;
  }

  module(file: string): GPUShaderModule {
    let m = this.modules.get(file);
    if (!m) {
      m = this.device.createShaderModule({ label: file, code: this.composed(file).code });
      this.modules.set(file, m);
    }
    return m;
  }

  /**
   * Compiles every shader module once and throws ShaderCompileError naming file:line:col (of the
   * file the line came from, which may be a part the module includes) for the first error. Dawn
   * reports compile errors asynchronously, so hosts call this once at start-up. Modules whose
   * `enable` directives need a feature the device lacks are skipped (their kernels are only
   * picked where it exists).
   */
  async compileAll(files = shaderModules(this.shaders)): Promise<void> {
    for (const f of files) {
      const c = this.composed(f);
      if (c.directives.some((d) => d in ENABLE_FEATURES && !this.device.features.has(ENABLE_FEATURES[d] as GPUFeatureName))) continue;
      this.device.pushErrorScope('validation');
      const info = await this.module(f).getCompilationInfo();
      const scopeError = await this.device.popErrorScope();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length > 0) {
        const lines = errors.map((m) => {
          const at = sourceLine(c, m.lineNum);
          return `${at ? `shaders/${at.file}:${at.line}` : `shaders/${f} (prelude line ${m.lineNum})`}:${m.linePos}: ${m.message}`;
        });
        throw new ShaderCompileError(`WGSL compile error in shaders/${f}\n${lines.join('\n')}`);
      }
      if (scopeError) throw new ShaderCompileError(`WGSL error in shaders/${f}: ${scopeError.message}`);
    }
  }

  /** A module compiled from generated WGSL, cached by its text. */
  private moduleFromCode(label: string, code: string): GPUShaderModule {
    let m = this.generated.get(code);
    if (!m) {
      m = this.device.createShaderModule({ label, code });
      this.generated.set(code, m);
    }
    return m;
  }

  layout(kinds: readonly GPUBufferBindingType[]): GPUBindGroupLayout {
    const key = kinds.join(',');
    let l = this.layouts.get(key);
    if (!l) {
      l = this.device.createBindGroupLayout({
        label: `layout[${key}]`,
        entries: kinds.map((type, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type } })),
      });
      this.layouts.set(key, l);
    }
    return l;
  }

  pipeline(key: PipelineKey, kinds: readonly GPUBufferBindingType[]): GPUComputePipeline {
    const c = key.constants ?? {};
    const id = `${key.shader}:${key.entry}:${JSON.stringify(c)}:${kinds.join(',')}${key.code === undefined ? '' : ':' + key.code}`;
    let p = this.pipelines.get(id);
    if (!p) {
      const layout = this.layout(kinds);
      p = this.device.createComputePipeline({
        label: `${key.shader}:${key.entry}`,
        layout: this.device.createPipelineLayout({ label: `${key.entry}-layout`, bindGroupLayouts: [layout] }),
        compute: { module: key.code === undefined ? this.module(key.shader) : this.moduleFromCode(`${key.shader} (fused)`, key.code), entryPoint: key.entry, constants: c },
      });
      this.pipelines.set(id, p);
    }
    return p;
  }

  get pipelineCount(): number { return this.pipelines.size; }

  buffer(label: string, bytes: number, usage: GPUBufferUsageFlags): GPUBuffer {
    return this.device.createBuffer({ label, size: Math.max(16, align(bytes, 16)), usage });
  }

  /** Set while a pack builds one of its members (src/gpu/slabs.ts); null otherwise. */
  slabs: SlabScope | null = null;

  /**
   * Storage for a tensor, arena or uniform: a buffer of its own, or, while a pack builds a member,
   * that member's slice of a shared slab. Callers must honour the offset.
   */
  slice(label: string, bytes: number, usage: GPUBufferUsageFlags): Slice {
    return this.slabs ? this.slabs.slice(label, bytes, usage) : { buffer: this.buffer(label, bytes, usage), offset: 0 };
  }

  private readonly onDestroy: (() => void)[] = [];

  /** Runs `fn` when the device is destroyed (a host's bookkeeping of open devices). */
  whenDestroyed(fn: () => void): void { this.onDestroy.push(fn); }

  /** Releases the device so Node can exit (Dawn keeps the process alive otherwise). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.device.destroy();
    for (const fn of this.onDestroy) fn();
  }
}
