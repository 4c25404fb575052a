import { UserError } from '../errors.ts';

// Errors the engine throws on purpose. Each names the thing that is wrong and what to do,
// so the CLI can print `message` alone without a stack trace.

/** A tensor's length or shape does not fit the kernel it is handed to (thrown before any dispatch). */
export class ShapeError extends UserError {
  override name = 'ShapeError';
}

/** WGSL failed to compile; the message names the shader file, line and column. */
export class ShaderCompileError extends UserError {
  override name = 'ShaderCompileError';
}

/** No WebGPU adapter, or the device was lost. */
export class GpuUnavailableError extends UserError {
  override name = 'GpuUnavailableError';
}

export function assertShape(cond: boolean, what: string): asserts cond {
  if (!cond) throw new ShapeError(what);
}
