// The step scheduler. A Program is the fixed list of dispatches of one training step (forward,
// loss, backward, masked SGD), built once with bind groups and pipelines cached. Every step it is
// encoded into ONE command buffer and submitted ONCE; metrics that the kernels accumulate in a
// GPU buffer are copied into a ring of staging buffers in the same command buffer and mapped
// asynchronously, so the CPU never waits for the GPU on the hot path. Some steps carry extra
// work (telemetry): its dispatches join the same command buffer and its output goes to a ring of
// its own. A Program may have variants of its step (the short last batch of an epoch runs other
// dispatches over the same buffers); each step says which it runs, and they share the rings.
import type { Gpu } from './gpu.ts';
import { type Dispatch, encodeDispatches } from './dispatch.ts';
import type { Tensor } from './tensor.ts';

export interface StepCounters {
  steps: number;
  dispatches: number;
  submits: number;
  /**
   * Times the CPU waited for the oldest ring slot (snapshot of step t−ringSize) before encoding
   * step t. That is back-pressure, not a stall: the GPU still has ringSize−1 steps queued, and
   * without it the CPU would queue command buffers without bound.
   */
  ringWaits: number;
  /**
   * Asynchronous snapshots delivered: the only readbacks a Program does. It has no synchronous
   * read, so no step ever waits for its own results.
   */
  snapshots: number;
}

export type SnapshotHandler = (step: number, values: Float32Array) => void;

interface RingSlot { buffer: GPUBuffer; pending: Promise<void> | null; step: number }

/** A GPU tensor copied after a step into a ring of mappable buffers, delivered a few steps later. */
class Channel {
  private readonly slots: RingSlot[] = [];
  private next = 0;

  constructor(gpu: Gpu, label: string, readonly tensor: Tensor, readonly onSnapshot: SnapshotHandler, ringSize: number, private readonly counters: StepCounters) {
    for (let i = 0; i < ringSize; i++) {
      const buffer = gpu.device.createBuffer({ label: `${label}-ring-${i}`, size: Math.max(16, tensor.length * 4), usage: 0x01 | 0x08 });
      this.slots.push({ buffer, pending: null, step: -1 });
    }
  }

  /** The next ring slot; waiting for it only happens when the GPU is a whole ring behind the CPU. */
  async acquire(): Promise<RingSlot> {
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % this.slots.length;
    if (slot.pending) {
      this.counters.ringWaits++;
      await slot.pending;
    }
    return slot;
  }

  copy(enc: GPUCommandEncoder, slot: RingSlot): void {
    enc.copyBufferToBuffer(this.tensor.buffer, this.tensor.offset * 4, slot.buffer, 0, this.tensor.length * 4);
  }

  /** After the submit: map the slot and hand the values over when the GPU is done. */
  deliver(slot: RingSlot, step: number): void {
    slot.step = step;
    slot.pending = slot.buffer.mapAsync(0x0001).then(() => {
      const values = new Float32Array(slot.buffer.getMappedRange(0, this.tensor.length * 4).slice(0));
      slot.buffer.unmap();
      slot.pending = null;
      this.counters.snapshots++;
      this.onSnapshot(slot.step, values);
    });
  }

  async drain(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.pending));
  }

  /**
   * Safe with snapshots in flight (a run stopped or failed mid-epoch): destroying a buffer rejects
   * its pending mapAsync, and that rejection is expected here, so it is caught rather than
   * surfacing as an unhandled error after the run has already ended for another reason.
   */
  destroy(): void {
    for (const s of this.slots) {
      s.pending?.catch(() => {});
      s.buffer.destroy();
    }
  }
}

/** Extra work for one step (e.g. telemetry): dispatches after the step's, and their output tensor. */
export interface ExtraWork { dispatches: readonly Dispatch[]; channel: number }

export class Program {
  private readonly channels: Channel[] = [];
  /** Dispatch lists of each step variant; variant 0 is the constructor's `passes`. */
  private readonly variants: (readonly (readonly Dispatch[])[])[];
  readonly counters: StepCounters = { steps: 0, dispatches: 0, submits: 0, ringWaits: 0, snapshots: 0 };

  /**
   * @param passes  dispatch lists encoded in order, one compute pass each (a pass boundary is
   *                where WebGPU guarantees writes are visible; within a pass dispatches are also
   *                ordered for storage buffers, so one pass is the norm).
   * @param metrics optional GPU tensor copied to the staging ring after a step (channel 0).
   */
  constructor(
    private readonly gpu: Gpu,
    readonly label: string,
    passes: readonly (readonly Dispatch[])[],
    metrics?: { tensor: Tensor; ringSize?: number; onSnapshot: SnapshotHandler },
  ) {
    this.variants = [passes];
    if (metrics) this.addChannel(metrics.tensor, metrics.onSnapshot, metrics.ringSize);
  }

  /** A further output that steps with ExtraWork snapshot; returns its channel number. */
  addChannel(tensor: Tensor, onSnapshot: SnapshotHandler, ringSize = 4): number {
    this.channels.push(new Channel(this.gpu, `${this.label}-channel${this.channels.length}`, tensor, onSnapshot, ringSize, this.counters));
    return this.channels.length - 1;
  }

  /** Another form of the step (same buffers and channels, other dispatches); returns its number for step(). */
  addVariant(passes: readonly (readonly Dispatch[])[]): number {
    this.variants.push(passes);
    return this.variants.length - 1;
  }

  /** Dispatches of one step of the main variant that do work. */
  get dispatchesPerStep(): number { return this.dispatchesOf(0); }

  /** Dispatches of one step of `variant` that do work. */
  dispatchesOf(variant: number): number {
    return this.passListOf(variant).reduce((n, p) => n + active(p), 0);
  }

  private passListOf(variant: number): readonly (readonly Dispatch[])[] {
    const v = this.variants[variant];
    if (!v) throw new Error(`${this.label}: no step variant ${variant}`);
    return v;
  }

  /**
   * Encodes and submits one step. `snapshot` copies channel 0 (the metrics) into its ring; the
   * values reach its handler when the GPU is done, a few steps later. Each `extra` appends its
   * dispatches in a pass of their own and snapshots its channel. `variant` picks the step's form.
   */
  async step(snapshot = false, extras: readonly ExtraWork[] = [], variant = 0): Promise<void> {
    this.gpu.checkAlive();
    const passes = this.passListOf(variant);
    const main = snapshot && this.channels[0] ? this.channels[0] : null;
    const sides = extras.map((e) => {
      const c = this.channels[e.channel];
      if (!c) throw new Error(`${this.label}: no channel ${e.channel}`);
      return c;
    });
    const mainSlot = main ? await main.acquire() : null;
    const sideSlots: RingSlot[] = [];
    for (const c of sides) sideSlots.push(await c.acquire());
    const enc = this.gpu.device.createCommandEncoder({ label: `${this.label}-step` });
    const lists = [...passes, ...extras.map((e) => e.dispatches)];
    for (const [i, list] of lists.entries()) {
      const pass = enc.beginComputePass({ label: `${this.label}-pass${i}` });
      encodeDispatches(pass, list);
      pass.end();
    }
    if (main && mainSlot) main.copy(enc, mainSlot);
    sides.forEach((c, i) => c.copy(enc, sideSlots[i]!));
    this.gpu.device.queue.submit([enc.finish()]);
    const step = this.counters.steps++;
    this.counters.submits++;
    this.counters.dispatches += this.dispatchesOf(variant) + extras.reduce((n, e) => n + active(e.dispatches), 0);
    if (main && mainSlot) main.deliver(mainSlot, step);
    sides.forEach((c, i) => c.deliver(sideSlots[i]!, step));
  }

  /** Waits for all submitted work and delivers every outstanding snapshot (end of epoch / run). */
  async flush(): Promise<void> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    await Promise.all(this.channels.map((c) => c.drain()));
    this.gpu.checkAlive();
  }

  destroy(): void {
    for (const c of this.channels) c.destroy();
  }
}

function active(list: readonly Dispatch[]): number {
  return list.filter((d) => d.workgroups[0] * d.workgroups[1] * d.workgroups[2] > 0).length;
}
