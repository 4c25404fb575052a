// How often Dawn's Node binding looks for finished GPU work. While any promise of it is pending
// (mapAsync, onSubmittedWorkDone, …) dawn.node re-queues a tick of its own through the global
// setImmediate, so every wait keeps one CPU core spinning from start to end. On a CPU adapter
// (lavapipe, SwiftShader) that core is taken from the driver threads doing the work: 20 GEMMs of
// 768³ waited 665 ms on lavapipe with the spin and 400 ms with one tick per millisecond
// (SwiftShader 5.8 s → 3.7 s), using ~40% less CPU time. So while only CPU-adapter devices are
// open, Dawn's ticks are paced to one per millisecond. On a real GPU the spinning core takes
// nothing from the device and notices the end of a wait at once, so the spin is left as it is.
// EARLYPHASE_DAWN_POLLING=spin keeps Dawn's own polling everywhere (for comparisons).

import { UserError } from '../../src/errors.ts';

const PACE_MS = 1;

let installed = false;
let gpuDevicesOpen = 0;

/** Dawn's tick: a native callback without a name (user code passes JavaScript functions). */
export function isDawnTick(cb: unknown): boolean {
  return typeof cb === 'function' && cb.name === '' && Function.prototype.toString.call(cb).includes('[native code]');
}

/** 'spin' or 'paced' from EARLYPHASE_DAWN_POLLING (checked before any GPU work). */
export function dawnPolling(): 'spin' | 'paced' {
  const v = process.env.EARLYPHASE_DAWN_POLLING;
  if (v === undefined || v === '' || v === 'paced') return 'paced';
  if (v === 'spin') return 'spin';
  throw new UserError(`EARLYPHASE_DAWN_POLLING=${v}: expected paced (the default: one Dawn tick per millisecond on CPU adapters) or spin (Dawn's own polling)`);
}

/**
 * Called for each device opened: paces Dawn's ticks while every open device is on a CPU adapter.
 * Returns what to call when that device is destroyed.
 */
export function devicePolling(adapterClass: 'cpu' | 'gpu'): () => void {
  if (dawnPolling() === 'spin') return () => {};
  if (!installed) {
    installed = true;
    const immediate = globalThis.setImmediate;
    const paced = ((cb: (...a: unknown[]) => void, ...args: unknown[]) =>
      gpuDevicesOpen === 0 && isDawnTick(cb) ? setTimeout(cb, PACE_MS, ...args) : immediate(cb, ...args)) as unknown as typeof setImmediate;
    globalThis.setImmediate = Object.assign(paced, immediate);
  }
  if (adapterClass === 'cpu') return () => {};
  gpuDevicesOpen++;
  let released = false;
  return () => { if (!released) { released = true; gpuDevicesOpen--; } };
}
