// Test-set evaluation: loss and accuracy of the weights currently in a model's arenas, in eval
// mode (batch-norm running statistics). Used after every epoch by the trainer and for
// interpolated weights by the instability analysis.
import type { Gpu } from '../gpu/gpu.ts';
import { createTensor, download, upload } from '../gpu/tensor.ts';
import { runDispatches, type Dispatch } from '../gpu/dispatch.ts';
import { compileModel, type CompiledModel } from '../nn/compile.ts';
import { createModelState, type ModelState } from '../nn/model-state.ts';
import { collectBuffers } from '../gpu/ownership.ts';
import { crossEntropyEval } from '../kernels/loss.ts';
import type { BatchGather } from '../kernels/batch.ts';
import type { ModelSpec } from '../nn/graph.ts';
import type { DatasetSplits } from '../data/dataset.ts';
import type { Hparams } from './hparams.ts';
import type { HostState } from './checkpoint.ts';
import { DeviceDataset } from './device-data.ts';

/**
 * Test-set evaluation in one submit: per test batch a gather (with its own static offset) + the
 * eval-mode forward + loss/correct accumulation, built once; one readback at the end.
 */
export class Evaluator {
  private readonly models: CompiledModel[] = [];
  private readonly gathers: BatchGather[] = [];
  private readonly owned: ReturnType<typeof createTensor>[] = [];
  private readonly dispatches: Dispatch[] = [];
  private readonly stats: ReturnType<typeof createTensor>;

  constructor(private readonly gpu: Gpu, st: ModelState, private readonly dev: DeviceDataset, batch: number) {
    const n = dev.testCount;
    const order = createTensor(gpu, 'test_order', [n], Uint32Array.from({ length: n }, (_, i) => i));
    this.stats = createTensor(gpu, 'eval_stats', [2]);
    this.owned.push(order, this.stats);
    // A mixed-precision model (one with an f16 weight copy) is evaluated in mixed precision too, as autocast does.
    const amp = st.half !== undefined;
    const full = compileModel(gpu, st, Math.min(batch, n), { backward: false, amp });
    this.models.push(full);
    const rest = n % full.batch ? compileModel(gpu, st, n % full.batch, { backward: false, amp }) : null;
    if (rest) this.models.push(rest);
    for (const m of this.models) {
      const labels = createTensor(gpu, `eval_labels_${m.batch}`, [m.batch]);
      this.owned.push(labels);
      const offsets = m === full ? [...Array(Math.floor(n / full.batch)).keys()].map((i) => i * full.batch) : [n - m.batch];
      const loss = crossEntropyEval(gpu, m.logits, labels, dev.classes, { stats: this.stats, slot: 0, accumulate: true });
      for (const off of offsets) {
        const g = dev.gather(dev.test, order, m.input, labels, m.batch, false);
        g.setStep(off, 0);
        this.gathers.push(g);
        this.dispatches.push(g.dispatch, ...m.forwardEval, loss);
      }
    }
  }

  async run(): Promise<{ loss: number; accuracy: number }> {
    upload(this.gpu, this.stats, new Float32Array(2));
    await runDispatches(this.gpu, this.dispatches, 'evaluate');
    const [lossSum, correct] = await download(this.gpu, this.stats);
    const n = this.dev.testCount;
    return { loss: lossSum! / n, accuracy: correct! / n };
  }

  destroy(): void {
    for (const m of this.models) m.destroy();
    for (const t of this.owned) t.buffer.destroy();
  }
}

/** Evaluates arbitrary weight states of one model (e.g. points between two networks). */
export class WeightsEvaluator {
  private readonly st: ModelState;
  private readonly ev: Evaluator;

  /** Every buffer made while constructing (kernel uniforms included): destroy() frees them all. */
  private readonly buffers: GPUBuffer[];

  constructor(private readonly gpu: Gpu, spec: ModelSpec, h: Hparams, data: DatasetSplits, replicate: number) {
    const built = collectBuffers(gpu.device, () => {
      const st = createModelState(gpu, spec, { amp: h.training.apex_fp16 });
      const dev = new DeviceDataset(gpu, data, h, replicate);
      return { st, ev: new Evaluator(gpu, st, dev, h.dataset.batch_size) };
    });
    ({ st: this.st, ev: this.ev } = built.value);
    this.buffers = built.buffers;
  }

  async evaluate(s: HostState): Promise<{ loss: number; accuracy: number }> {
    upload(this.gpu, this.st.params.all(), s.params);
    if (this.st.stats.names.length) upload(this.gpu, this.st.stats.all(), s.stats);
    return this.ev.run();
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
  }
}
