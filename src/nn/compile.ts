// Compiles a model tree against a batch size into dispatch lists: forward (training mode, batch
// statistics), backward (reverse order, gradients into the grads arena), and forward in eval
// mode (running statistics). Parameters, gradients, momenta, masks and batch-norm running stats
// live in Arenas shared by every compiled instance of the model (train batch, eval batch, eval
// remainder), so one masked-SGD dispatch updates all of them and a checkpoint is a few copies.
// Gradient-flow tensors (each layer's dx) are live only from the backward step that writes them
// to the last step that reads them, so they share a few buffers by lifetime (src/gpu/reuse.ts);
// forward outputs stay distinct because the backward pass reads them, except in an evaluation-only
// instance, where nothing runs after the forward pass and its activations share buffers the same way.
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import type { ModelState } from './model-state.ts';
import { Builder } from './compile-builder.ts';
import { runBackward, walk } from './compile-walk.ts';
import { ampRound, ampRoundCopy } from '../kernels/amp.ts';

export interface CompiledModel {
  batch: number;
  /** Input images [B, C, H, W] (written by the batch kernel). */
  input: Tensor;
  logits: Tensor;
  /** Forward pass in training mode (batch statistics, running-stat update); empty when compiled without backward. */
  forwardTrain: Dispatch[];
  /** dL/dlogits must be in `dlogits`; writes every parameter gradient. Empty when compiled without backward. */
  backward: Dispatch[];
  dlogits: Tensor;
  /** Forward pass in eval mode (running statistics), into the same logits. Empty in a mixed-precision training instance. */
  forwardEval: Dispatch[];
  /** Compiled for mixed precision (see compile-builder.ts). */
  amp: boolean;
  /** Its buffers in allocation order, for a smaller instance to borrow (compileModel's `borrowFrom`). */
  allocations: readonly Tensor[];
  /** Destroys the buffers it allocated (not those it borrowed). */
  destroy(): void;
}


/**
 * `variant` picks the kernel set (default: the adapter's class; tests compile the 'gpu' set on CPU
 * adapters too). `backward: false` compiles an evaluation-only instance: its `backward` and `forwardTrain` lists
 * are empty, no gradient buffers are allocated, and its activations share buffers by lifetime.
 * `borrowFrom`: an instance of the same model, mode and variant with a batch ≥ `batch` whose
 * buffers this one uses the leading part of (the short last batch of an epoch); it must outlive
 * this one, and the two must not run concurrently.
 *
 * `amp`: mixed precision (--apex-fp16; `st` must have the f16 weight copy, `st.half`). Each forward
 * list then starts by rounding the f32 master weights into that copy and the input to f16, every
 * layer's output is f16 (rounded in place), and the gradients autocast produces in f16 are rounded
 * too (compile-builder.ts); `dlogits` must hold the gradient of the scaled loss, already f16, and
 * the parameter gradients come out scaled, to be unscaled by the optimiser's step (src/train/amp.ts).
 * A training instance keeps only what its backward pass reads, as packed f16, and has no
 * evaluation list: evaluation compiles an evaluation-only instance.
 */
export function compileModel(gpu: Gpu, st: ModelState, batch: number,
  { backward: withBackward = true, variant = gpu.kernels, borrowFrom, amp = false }: { backward?: boolean; variant?: AdapterClass; borrowFrom?: CompiledModel; amp?: boolean } = {}): CompiledModel {
  if (borrowFrom && borrowFrom.batch < batch) throw new Error(`compileModel: cannot borrow the buffers of batch ${borrowFrom.batch} for batch ${batch}`);
  if (borrowFrom && borrowFrom.amp !== amp) throw new Error('compileModel: cannot borrow the buffers of an instance of another precision');
  const b = new Builder(gpu, st, batch, !withBackward, variant, borrowFrom?.allocations, amp);
  const input = b.tensor('input', [...st.spec.input]);
  const { y: logits, shape } = walk(b, st.spec.layers, input, [...st.spec.input], false, 'l');
  if (numel(shape) !== st.spec.classes) throw new Error(`${st.spec.name}: output has ${numel(shape)} features, expected ${st.spec.classes}`);
  const dlogits = b.tensor('dlogits', [st.spec.classes]);
  if (withBackward) runBackward(b, b.back, dlogits);
  // The logits are read by the loss, after the last step of the list that writes them.
  b.allocatePooled(withBackward && !amp ? null : logits);
  // Every convolution's weights repacked at the start of each forward list (after mixed
  // precision's f16 copy, which they read); the backward list that follows reads them too.
  const repack = b.repack();
  const backward = b.steps.flatMap((f) => f());
  const start = amp ? [ampRoundCopy(gpu, st.params.all(), st.half!.all()), ampRound(gpu, input), ...repack] : repack;
  return {
    batch, input, logits, dlogits, backward, amp,
    // An evaluation-only instance has no training forward: its activations were pooled by their
    // lifetimes in the eval list alone.
    forwardTrain: withBackward ? [...start, ...b.fwdTrain.flatMap((f) => f())] : [],
    forwardEval: withBackward && amp ? [] : [...start, ...b.fwdEval.flatMap((f) => f())],
    allocations: b.allocations,
    destroy() { for (const t of b.owned) t.buffer.destroy(); },
  };
}
