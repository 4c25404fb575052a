// Buffer ownership by construction: every GPU buffer created while an object is being built
// belongs to that object. Kernel wrappers create uniform buffers (src/gpu/uniforms.ts) that no
// Dispatch keeps a handle to destroy, and compiled models, feeders and optimisers each own a few
// more; collecting them at the one place they are all created is what lets a single destroy()
// free everything, uniforms included, without every wrapper having to return its buffers.
export interface Collected<T> {
  value: T;
  /** Every buffer device.createBuffer returned while `build` ran, in creation order. */
  buffers: GPUBuffer[];
}

/**
 * Runs `build` (synchronous: buffers created after an await would be missed) and returns what
 * it built with the buffers it created. If `build` throws, those buffers are destroyed before the
 * error propagates, so a failed construction leaks nothing either. Nests: an outer collector (or
 * the training bench's byte counter) still sees every buffer.
 */
export function collectBuffers<T>(device: GPUDevice, build: () => T): Collected<T> {
  const buffers: GPUBuffer[] = [];
  const ownProperty = Object.hasOwn(device, 'createBuffer');
  const previous = device.createBuffer;
  device.createBuffer = function (desc: GPUBufferDescriptor) {
    const b = previous.call(device, desc);
    buffers.push(b);
    return b;
  };
  try {
    const value = build();
    if (value && typeof (value as { then?: unknown }).then === 'function') throw new Error('collectBuffers: build must be synchronous');
    return { value, buffers };
  } catch (e) {
    for (const b of buffers) b.destroy();
    throw e;
  } finally {
    if (ownProperty) device.createBuffer = previous;
    else delete (device as { createBuffer?: unknown }).createBuffer;
  }
}
