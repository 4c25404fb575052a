// GPU time of single dispatches, for `earlyphase profile`. Two methods:
// - timestamps: every dispatch of a list in a compute pass of its own, with timestampWrites at the
//   pass's beginning and end (WebGPU allows timestamps only at pass boundaries), the whole list in
//   one command buffer and one submit, so the dispatches run in their real order on their real
//   inputs. A pass boundary costs a little (Dawn's barriers between passes), so the sum of these
//   times can exceed the time of the same list in one pass.
// - repeat (devices without 'timestamp-query', or timestamps that fail the checks below): each
//   dispatch in order, repeated R times in one pass, one submit each, timed with the wall clock
//   around submit + onSubmittedWorkDone minus the time of an empty submit, divided by R. Dispatches
//   that update in place (optimiser, running statistics, accumulators) then apply R times.
import type { Gpu } from './gpu.ts';
import type { Dispatch } from './dispatch.ts';

/** Dispatches that encodeDispatches actually records (it skips empty grids). */
export function activeDispatches(list: readonly Dispatch[]): Dispatch[] {
  return list.filter((d) => d.workgroups[0] * d.workgroups[1] * d.workgroups[2] > 0);
}

/** WebGPU caps a query set at 4,096 queries: 2,048 passes (begin + end) per set. */
const PASSES_PER_SET = 2048;
const QUERY_RESOLVE = 0x200, COPY_SRC = 0x04, COPY_DST = 0x08, MAP_READ = 0x01;

export interface TimestampRun {
  /** GPU milliseconds of each dispatch (end − beginning of its pass). */
  ms: number[];
  /** Wall-clock milliseconds of the submit until onSubmittedWorkDone. */
  wallMs: number;
  /** Null when the timestamps look usable, else why not (then use the repeat method). */
  problem: string | null;
}

/** Times every dispatch of `list` (already filtered to active ones) in a pass of its own. */
export class TimestampTimer {
  private readonly sets: GPUQuerySet[] = [];
  private readonly resolve: GPUBuffer;
  private readonly readback: GPUBuffer;

  constructor(private readonly gpu: Gpu, private readonly list: readonly Dispatch[]) {
    if (!gpu.hasTimestamps) throw new Error('TimestampTimer: the device has no timestamp-query feature');
    if (list.length === 0) throw new Error('TimestampTimer: no dispatches to time');
    for (let i = 0; i < list.length; i += PASSES_PER_SET) {
      const passes = Math.min(PASSES_PER_SET, list.length - i);
      this.sets.push(gpu.device.createQuerySet({ label: `profile-timestamps-${i}`, type: 'timestamp', count: 2 * passes }));
    }
    const bytes = 16 * list.length; // two u64 per dispatch; set k starts at k·32 KiB, 256-byte aligned
    this.resolve = gpu.device.createBuffer({ label: 'profile-resolve', size: bytes, usage: QUERY_RESOLVE | COPY_SRC });
    this.readback = gpu.device.createBuffer({ label: 'profile-readback', size: bytes, usage: MAP_READ | COPY_DST });
  }

  async run(): Promise<TimestampRun> {
    const { device } = this.gpu;
    this.gpu.checkAlive();
    device.pushErrorScope('validation');
    const enc = device.createCommandEncoder({ label: 'profile-timestamps' });
    this.list.forEach((d, i) => {
      const querySet = this.sets[Math.floor(i / PASSES_PER_SET)]!, q = 2 * (i % PASSES_PER_SET);
      const pass = enc.beginComputePass({ label: `profile:${d.label}`, timestampWrites: { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 } });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      pass.end();
    });
    this.sets.forEach((s, k) => enc.resolveQuerySet(s, 0, s.count, this.resolve, k * PASSES_PER_SET * 16));
    enc.copyBufferToBuffer(this.resolve, 0, this.readback, 0, this.readback.size);
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    const err = await device.popErrorScope();
    if (err) throw new Error(`profile: WebGPU validation error: ${err.message}`);
    await device.queue.onSubmittedWorkDone();
    const wallMs = performance.now() - t0;
    this.gpu.checkAlive();
    await this.readback.mapAsync(MAP_READ);
    const raw = new BigUint64Array(this.readback.getMappedRange().slice(0));
    this.readback.unmap();
    const ms = this.list.map((_, i) => Number(raw[2 * i + 1]! - raw[2 * i]!) / 1e6);
    return { ms, wallMs, problem: timestampProblem(raw, ms, wallMs) };
  }

  destroy(): void {
    for (const s of this.sets) s.destroy();
    this.resolve.destroy();
    this.readback.destroy();
  }
}

/**
 * Why a run's timestamps cannot be GPU times, or null. An adapter may expose the feature and
 * write zeros, a constant, values rounded to Dawn's 65.536 µs quantum, or a clock unrelated to
 * execution; the times must be ordered within each pass and add up to no more than the submit's
 * wall time (passes of one command buffer run one after another on CPU adapters; real GPUs may
 * overlap independent passes a little, hence the margin).
 */
export function timestampProblem(raw: BigUint64Array, ms: readonly number[], wallMs: number): string | null {
  if (raw.every((v) => v === 0n)) return 'every timestamp is 0';
  if (ms.some((t) => !(t >= 0))) return 'a pass ends before it begins';
  if (ms.every((t) => t === 0)) return 'every pass takes 0 ns (a constant clock)';
  if (raw.length > 8 && raw.every((v) => (v & 0xffffn) === 0n)) return 'timestamps are rounded to 65.536 µs (Dawn timestamp_quantization)';
  const sum = ms.reduce((a, b) => a + b, 0);
  if (sum > 1.5 * wallMs + 1) return `the passes add up to ${sum.toFixed(3)} ms, more than the submit's wall time of ${wallMs.toFixed(3)} ms`;
  return null;
}

async function wallOf(gpu: Gpu, encode: (enc: GPUCommandEncoder) => void): Promise<number> {
  const enc = gpu.device.createCommandEncoder({ label: 'profile-repeat' });
  encode(enc);
  const cb = enc.finish();
  const t0 = performance.now();
  gpu.device.queue.submit([cb]);
  await gpu.device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median wall time of an empty submit + onSubmittedWorkDone: the repeat method's baseline. */
export async function emptySubmitMs(gpu: Gpu, samples = 15): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) ms.push(await wallOf(gpu, () => {}));
  return median(ms);
}

/**
 * The repeat method: per dispatch, in order, (wall time of R copies in one pass − baseline) / R,
 * floored at 0 (a dispatch shorter than the submit's jitter can come out negative).
 */
export async function timeEachByRepeat(gpu: Gpu, list: readonly Dispatch[], repeat: number, baselineMs: number): Promise<number[]> {
  gpu.checkAlive();
  const out: number[] = [];
  gpu.device.pushErrorScope('validation');
  for (const d of list) {
    const wall = await wallOf(gpu, (enc) => {
      const pass = enc.beginComputePass({ label: `profile:${d.label}` });
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      for (let r = 0; r < repeat; r++) pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
      pass.end();
    });
    out.push(Math.max(0, wall - baselineMs) / repeat);
  }
  const err = await gpu.device.popErrorScope();
  if (err) throw new Error(`profile: WebGPU validation error: ${err.message}`);
  gpu.checkAlive();
  return out;
}
