// The step scheduler. A Program is the fixed list of dispatches of one training step (forward,
// loss, backward, masked SGD), built once with bind groups and pipelines cached. Every step it is
// encoded into ONE command buffer with one compute pass and submitted ONCE; metrics that the
// kernels accumulate in a GPU buffer are copied into a ring of staging buffers in the same
// command buffer and mapped asynchronously, so the CPU never waits for the GPU on the hot path.
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
   * Asynchronous metric snapshots delivered: the only readbacks a Program does. It has no
   * synchronous read, so no step ever waits for its own results.
   */
  snapshots: number;
}

interface RingSlot { buffer: GPUBuffer; pending: Promise<void> | null; step: number }

export type SnapshotHandler = (step: number, values: Float32Array) => void;

export class Program {
  private readonly slots: RingSlot[] = [];
  private next = 0;
  readonly counters: StepCounters = { steps: 0, dispatches: 0, submits: 0, ringWaits: 0, snapshots: 0 };

  /**
   * @param passes  dispatch lists encoded in order, one compute pass each (a pass boundary is
   *                where WebGPU guarantees writes are visible; within a pass dispatches are also
   *                ordered for storage buffers, so one pass is the norm).
   * @param metrics optional GPU tensor copied to the staging ring after each step.
   */
  constructor(
    private readonly gpu: Gpu,
    readonly label: string,
    private readonly passes: readonly (readonly Dispatch[])[],
    private readonly metrics?: { tensor: Tensor; ringSize?: number; onSnapshot: SnapshotHandler },
  ) {
    if (metrics) {
      const bytes = metrics.tensor.length * 4;
      for (let i = 0; i < (metrics.ringSize ?? 4); i++) {
        const buffer = gpu.device.createBuffer({ label: `${label}-metrics-ring-${i}`, size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: 0x01 | 0x08 });
        this.slots.push({ buffer, pending: null, step: -1 });
      }
    }
  }

  get dispatchesPerStep(): number {
    return this.passes.reduce((n, p) => n + p.filter((d) => d.workgroups[0] * d.workgroups[1] * d.workgroups[2] > 0).length, 0);
  }

  /**
   * Encodes and submits one step. `snapshot` copies the metrics tensor into the next ring slot;
   * the values reach `onSnapshot` when the GPU is done, a few steps later.
   */
  async step(snapshot = false): Promise<void> {
    this.gpu.checkAlive();
    const slot = snapshot && this.metrics ? await this.freeSlot() : null;
    const enc = this.gpu.device.createCommandEncoder({ label: `${this.label}-step` });
    for (const [i, list] of this.passes.entries()) {
      const pass = enc.beginComputePass({ label: `${this.label}-pass${i}` });
      encodeDispatches(pass, list);
      pass.end();
    }
    const m = this.metrics;
    if (slot && m) enc.copyBufferToBuffer(m.tensor.buffer, m.tensor.offset * 4, slot.buffer, 0, m.tensor.length * 4);
    this.gpu.device.queue.submit([enc.finish()]);
    const step = this.counters.steps++;
    this.counters.submits++;
    this.counters.dispatches += this.dispatchesPerStep;
    if (slot && m) {
      slot.step = step;
      slot.pending = slot.buffer.mapAsync(0x0001).then(() => {
        const values = new Float32Array(slot.buffer.getMappedRange(0, m.tensor.length * 4).slice(0));
        slot.buffer.unmap();
        slot.pending = null;
        this.counters.snapshots++;
        m.onSnapshot(slot.step, values);
      });
    }
  }

  /** The next ring slot; waiting for it only happens when the GPU is a whole ring behind the CPU. */
  private async freeSlot(): Promise<RingSlot> {
    const slot = this.slots[this.next]!;
    this.next = (this.next + 1) % this.slots.length;
    if (slot.pending) {
      this.counters.ringWaits++;
      await slot.pending;
    }
    return slot;
  }

  /** Waits for all submitted work and delivers every outstanding snapshot (end of epoch / run). */
  async flush(): Promise<void> {
    await this.gpu.device.queue.onSubmittedWorkDone();
    await Promise.all(this.slots.map((s) => s.pending));
    this.gpu.checkAlive();
  }

  destroy(): void {
    for (const s of this.slots) s.buffer.destroy();
  }
}
