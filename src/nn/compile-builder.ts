// The compiler's working state (src/nn/compile.ts walks a model tree with it): tensors it
// allocates and owns, the dispatch-list thunks of each mode, the backward tape, buffer sharing by
// lifetime for gradient-flow tensors, and the two scratch buffers the conv and batch-norm kernels
// share (dispatches in a pass run in order, so one buffer of the largest needed size serves all).
// Every buffer goes through `alloc`, so an instance compiled for a smaller batch can borrow the
// leading part of each buffer of a larger one (the short last batch of an epoch, see
// compileModel's `borrowFrom`) instead of doubling the activation memory.
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { createTensor, numel, type Tensor } from '../gpu/tensor.ts';
import { planBuffers } from '../gpu/reuse.ts';
import type { ModelState } from './model-state.ts';

export type Shape = number[]; // per sample: [C, H, W] or [F]

/** Builder state while walking the tree. */
export class Builder {
  /**
   * Forward dispatches are created after the walk (thunks), because conv kernels need the shared
   * scratch buffer, whose size is only known once every layer has been seen.
   */
  readonly fwdTrain: (() => Dispatch[])[] = [];
  readonly fwdEval: (() => Dispatch[])[] = [];
  /**
   * Backward tape, pushed in forward order, run in reverse (runBackward). Each entry maps dy → dx
   * (null where no dx is needed) and records its dispatches with `step`.
   */
  readonly back: ((dy: Tensor) => Tensor | null)[] = [];
  /** The backward pass in execution order: each step's dispatches, created once gradients have buffers. */
  readonly steps: (() => Dispatch[])[] = [];
  /**
   * Tensors whose buffers are shared by lifetime, with the range of steps that touch them (in the
   * one list that uses them: backward, or forwardEval in an evaluation-only instance).
   */
  private readonly pooled: { t: Tensor; first: number; last: number; bind(slot: Tensor): void }[] = [];
  readonly owned: { buffer: GPUBuffer }[] = [];
  /** Every tensor this instance allocated or borrowed, in allocation order (what a smaller instance borrows from). */
  readonly allocations: Tensor[] = [];
  private scratchTensor: Tensor | null = null;
  private scratchLength = 0;
  private partialsTensor: Tensor | null = null;
  private partialsLength = 0;

  /**
   * `borrow`: the allocations of an instance of the same model with a batch at least as large.
   * Both instances walk the model the same way, so their n-th allocations are the same tensor at
   * two batch sizes; the n-th here takes the leading part of the n-th there when the names agree
   * and it fits, else a buffer of its own. The two instances' steps never run at the same time
   * (one queue, one step at a time), and each rewrites every buffer before reading it.
   */
  constructor(readonly gpu: Gpu, readonly st: ModelState, readonly batch: number, readonly evalOnly: boolean,
    readonly variant: AdapterClass, private readonly borrow: readonly Tensor[] = []) {}

  /** A buffer-backed tensor: borrowed (see the constructor) or newly allocated and owned. */
  alloc(name: string, shape: readonly number[]): Tensor {
    const host = this.borrow[this.allocations.length];
    const length = numel(shape);
    let t: Tensor;
    if (host && host.name === name && host.length >= length) {
      t = { name, buffer: host.buffer, offset: host.offset, length, shape: [...shape] };
    } else {
      t = createTensor(this.gpu, name, shape);
      this.owned.push(t);
    }
    this.allocations.push(t);
    return t;
  }

  tensor(name: string, shape: Shape): Tensor {
    return this.alloc(name, [this.batch, ...shape]);
  }

  /** A forward output: its own buffer when a backward pass will read it, else pooled. */
  act(name: string, shape: Shape): Tensor {
    return this.evalOnly ? this.grad(name, shape) : this.tensor(name, shape);
  }

  /**
   * A gradient-flow tensor (or an evaluation-only activation): its buffer is chosen once the
   * whole dispatch order is known, so it may only be bound inside a step's dispatch thunk
   * (reading `buffer` earlier throws).
   */
  grad(name: string, shape: Shape): Tensor {
    let slot: Tensor | null = null;
    const full = [this.batch, ...shape];
    const bound = (): Tensor => {
      if (!slot) throw new Error(`gradient ${name} bound before buffers were assigned`);
      return slot;
    };
    const t: Tensor = {
      name, length: numel(full), shape: full,
      get buffer(): GPUBuffer { return bound().buffer; },
      get offset(): number { return bound().offset; }, // non-zero in a pack member's slice of a slab
    };
    this.pooled.push({ t, first: -1, last: -1, bind: (b) => { slot = b; } });
    return t;
  }

  /**
   * Appends one step to `list` (this.steps or this.fwdEval) that reads `reads` and writes `writes`.
   * A step is the unit of lifetime: every tensor it touches is live for the whole step, so a
   * step's inputs and outputs never share a buffer even when it runs several dispatches.
   */
  step(list: (() => Dispatch[])[], reads: readonly (Tensor | null)[], writes: readonly (Tensor | null)[], dispatches: () => Dispatch[]): void {
    const at = list.length;
    for (const t of [...reads, ...writes]) {
      const p = t && this.pooled.find((e) => e.t === t);
      if (!p) continue; // has its own buffer (input, dlogits, parameters, activations of a training instance)
      if (p.first < 0) p.first = at;
      p.last = at;
    }
    list.push(dispatches);
  }

  /**
   * Gives every pooled tensor that a step touched a buffer shared only with tensors of disjoint
   * lifetime. `liveAfter` is read after the last step (the logits of an evaluation-only
   * instance, read by the loss), so it stays live to the end.
   */
  allocatePooled(liveAfter: Tensor | null): void {
    const used = this.pooled.filter((p) => p.first >= 0);
    const end = Math.max(0, ...used.map((p) => p.last)) + 1;
    const plan = planBuffers(used.map((p) => ({ size: p.t.length, first: p.first, last: p.t === liveAfter ? end : p.last })));
    const slots = plan.sizes.map((n, i) => this.alloc(`pooled_slot${i}`, [n]));
    for (const [i, p] of used.entries()) p.bind(slots[plan.slot[i]!]!);
  }

  /** Both modes run this layer's forward, which reads `reads` and writes `writes`. */
  both(reads: readonly Tensor[], writes: readonly Tensor[], f: () => Dispatch[]): void {
    this.fwdTrain.push(f);
    this.step(this.fwdEval, reads, writes, f);
  }

  /** Conv and batch-norm kernels share one scratch buffer (dispatches in a pass run in order); reserve room. */
  reserveScratch(length: number): void {
    this.scratchLength = Math.max(this.scratchLength, length);
  }

  /** Split conv kernels ('gpu' set) share a second buffer for their partial outputs; reserve room. */
  reservePartials(length: number): void {
    this.partialsLength = Math.max(this.partialsLength, length);
  }

  /** The shared partials buffer, or undefined when no convolution splits; valid once the walk is over. */
  get partials(): Tensor | undefined {
    if (!this.partialsTensor && this.partialsLength > 0) {
      this.partialsTensor = this.alloc('conv_partials', [this.partialsLength]);
    }
    return this.partialsTensor ?? undefined;
  }

  /** The shared scratch; only valid once the walk is over (inside thunks and backward steps). */
  get scratch(): Tensor {
    if (!this.scratchTensor) {
      this.scratchTensor = this.alloc('conv_scratch', [Math.max(this.scratchLength, 1)]);
    }
    return this.scratchTensor;
  }
}
