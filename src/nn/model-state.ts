// A model's persistent state: its parameters (and their gradients, momenta and masks, one arena
// each with the same layout, so one kernel can walk all four) and its batch-norm running
// statistics. The layout is defined once, by stateLayout: the GPU arenas are built from it, and
// code that reads run files before any GPU work uses it bare.
import type { Gpu } from '../gpu/gpu.ts';
import { Arena } from '../gpu/tensor.ts';
import { buffers, parameters, type ModelSpec } from './graph.ts';

/** The model's persistent state on the GPU: same layout in all four parameter arenas. */
export interface ModelState {
  spec: ModelSpec;
  params: Arena;
  grads: Arena;
  momenta: Arena;
  masks: Arena;
  /** Batch-norm running mean/var (checkpointed, not trained). */
  stats: Arena;
  /**
   * Mixed precision (--apex-fp16): the step's f16 copy of the parameters (values rounded to f16,
   * stored as f32 in the params layout), which conv and linear layers read; rewritten from the f32
   * masters at the start of every forward pass. Absent otherwise.
   */
  half?: Arena;
}

/** The layouts of the parameters (in the model's parameter order) and of the BN statistics, without GPU buffers. */
export function stateLayout(spec: ModelSpec, label = 'params'): { params: Arena; stats: Arena } {
  const params = new Arena(label), stats = new Arena('bn_stats');
  for (const p of parameters(spec.layers)) params.add(p.name, p.shape);
  for (const b of buffers(spec.layers)) stats.add(b.name, b.shape);
  return { params, stats };
}

export function createModelState(gpu: Gpu, spec: ModelSpec, o: { amp?: boolean } = {}): ModelState {
  const mk = (label: string) => {
    const a = stateLayout(spec, label).params;
    a.build(gpu);
    return a;
  };
  const { stats } = stateLayout(spec);
  if (stats.names.length > 0) stats.build(gpu);
  const st: ModelState = { spec, params: mk('params'), grads: mk('grads'), momenta: mk('momenta'), masks: mk('masks'), stats };
  if (o.amp) st.half = mk('params_f16');
  return st;
}

export function destroyModelState(st: ModelState): void {
  for (const a of [st.params, st.grads, st.momenta, st.masks, ...(st.half ? [st.half] : [])]) a.buffer.destroy();
  if (st.stats.names.length) st.stats.buffer.destroy();
}
