// --pack auto: how many jobs a worker takes at a time and trains together, from the device's
// memory and a job's model and batch size (resolvePack). BullMQ needs the number before it hands
// out jobs, so the first batch is sized from the oldest job waiting; later batches from their own
// first job.
import type { Job, Worker } from 'bullmq';
import type { ModelSpec } from '../../../src/nn/graph.ts';
import type { QueueJobData } from '../queue/job-data.ts';
import { resolvePack } from '../../host/pack-size.ts';
import type { WorkerCore } from './core.ts';
import { planJob } from './job-spec.ts';

export class AutoPack {
  /** The last size chosen (0: none yet). */
  private k = 0;

  constructor(private readonly w: WorkerCore) {}

  /** --pack auto for a job of `spec` at `batch`: resolvePack's choice, said when it changes (not every batch). */
  size(spec: ModelSpec, batch: number): number {
    let line = '';
    const k = resolvePack('auto', this.w.env.gpu, spec, batch, null, (s) => { line = s; });
    if (k !== this.k) this.w.log(line);
    return this.k = k;
  }

  /**
   * Sets `worker`'s concurrency from the oldest job waiting (waiting for one to be enqueued), then
   * starts it (`worker` is created without autorun); `onError` hears why it stopped.
   */
  async startSized(worker: Worker<QueueJobData>, onError: (e: Error) => void): Promise<void> {
    while (!this.w.stopping) {
      const [first] = await this.w.queue.getJobs(['prioritized', 'waiting'], 0, 0, true).catch(() => []);
      if (first) {
        try {
          const { spec, batch } = await planJob(this.w.env.data, first as Job<QueueJobData>);
          worker.concurrency = this.size(spec, batch);
        } catch (e) {
          this.w.log(`--pack auto: cannot size from ${first.id} (${(e as Error).message}); its batch takes one job`);
        }
        if (!this.w.stopping) void worker.run().catch(onError);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
