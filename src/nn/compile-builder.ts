// The compiler's working state (src/nn/compile.ts walks a model tree with it): tensors it
// allocates and owns, the dispatch-list thunks of each mode, the backward tape, buffer sharing by
// lifetime for gradient-flow tensors, and the two scratch buffers the conv and batch-norm kernels
// share (dispatches in a pass run in order, so one buffer of the largest needed size serves all).
// Every buffer goes through `alloc`, so an instance compiled for a smaller batch can borrow the
// leading part of each buffer of a larger one (the short last batch of an epoch, see
// compileModel's `borrowFrom`) instead of doubling the activation memory.
//
// Mixed precision (`amp`, --apex-fp16) changes three things, and nothing when it is off:
//   - conv and linear layers read the f16 copy of the weights (st.half) instead of the f32 masters;
//   - every forward output is rounded to f16 in place after the step that writes it, every
//     gradient a layer produces where autocast would produce it in f16 (a pass after the kernel
//     that wrote it: the kernels themselves are the f32 ones, unchanged);
//   - in a training instance the forward outputs are f32 buffers shared by lifetime like the
//     gradients (one timeline: forward steps, then backward steps), and an output a backward step
//     reads is saved as packed f16 pairs when it is written and unpacked into an f32 buffer at the
//     start of each backward step that reads it (`backStep`). Outputs no backward step reads
//     (a batch norm's output that only a ReLU or a residual sum reads) are never saved. A ReLU's
//     backward reads its saved f16 output directly and masks the incoming gradient in place
//     (`reluGrad`), so neither an f32 copy of the output nor a new gradient buffer is needed.
import type { AdapterClass, Gpu } from '../gpu/gpu.ts';
import type { Conv2dShape } from '../kernels/conv2d.ts';
import type { Dispatch } from '../gpu/dispatch.ts';
import { createTensor, numel, type Tensor } from '../gpu/tensor.ts';
import { planBuffers } from '../gpu/reuse.ts';
import { ampPack, ampReluBackward, ampReluMask, ampRound, ampUnpack, packedLength } from '../kernels/amp.ts';
import type { ModelState } from './model-state.ts';
import { PackedWeights } from './packed-weights.ts';
import { segmentGroup } from '../kernels/conv2d.ts';

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
  /** Mixed precision: the packed f16 copy of each forward output a backward step reads. */
  private readonly saved = new Map<Tensor, Tensor>();
  /** Gradients that more than one backward step reads (a residual block's output gradient): never rewritten in place. */
  readonly shared = new Set<Tensor>();
  /** Conv weights repacked once per forward list for every convolution (packed-weights.ts). */
  private readonly packed = new PackedWeights();

  /**
   * `borrow`: the allocations of an instance of the same model with a batch at least as large.
   * Both instances walk the model the same way, so their n-th allocations are the same tensor at
   * two batch sizes; the n-th here takes the leading part of the n-th there when the names agree
   * and it fits, else a buffer of its own. The two instances' steps never run at the same time
   * (one queue, one step at a time), and each rewrites every buffer before reading it.
   */
  constructor(readonly gpu: Gpu, readonly st: ModelState, readonly batch: number, readonly evalOnly: boolean,
    readonly variant: AdapterClass, private readonly borrow: readonly Tensor[] = [], readonly amp = false) {
    if (amp && !st.half) throw new Error('compileModel: mixed precision needs a model state with the f16 weight copy (createModelState with amp)');
  }

  /** Mixed precision in a training instance: forward outputs pooled, saved ones packed. */
  private get ampTrain(): boolean { return this.amp && !this.evalOnly; }

  /** The weights a conv or linear layer reads: the f32 masters, or their f16 copy under mixed precision. */
  weight(name: string): Tensor {
    return this.amp ? this.st.half!.get(name) : this.st.params.get(name);
  }

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

  /**
   * A forward output: its own buffer when a backward pass will read it, else pooled. Under mixed
   * precision always pooled; the backward pass reads a packed f16 copy (`backStep`).
   */
  act(name: string, shape: Shape): Tensor {
    return this.evalOnly || this.amp ? this.grad(name, shape) : this.tensor(name, shape);
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
    // Under mixed precision a training instance's forward outputs are pooled too: backward steps
    // come after every forward step on one timeline (the walk records all forward steps first).
    const at = this.ampTrain && list === this.steps ? this.fwdTrain.length + list.length : list.length;
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
    // A mixed-precision training instance's logits (pooled as every forward output) would hold a
    // slot through the whole backward pass: they get a small buffer of their own.
    const own = this.ampTrain ? this.pooled.find((p) => p.t === liveAfter) : undefined;
    if (own) own.bind(this.alloc(own.t.name, own.t.shape));
    const used = this.pooled.filter((p) => p.first >= 0 && p !== own);
    const end = Math.max(0, ...used.map((p) => p.last)) + 1;
    const plan = planBuffers(used.map((p) => ({ size: p.t.length, first: p.first, last: p.t === liveAfter ? end : p.last })));
    const slots = plan.sizes.map((n, i) => this.alloc(`pooled_slot${i}`, [n]));
    for (const [i, p] of used.entries()) p.bind(slots[plan.slot[i]!]!);
  }

  /** Both modes run this layer's forward, which reads `reads` and writes `writes`. */
  both(reads: readonly Tensor[], writes: readonly Tensor[], f: () => Dispatch[], o: { exact?: boolean } = {}): void {
    this.forward(reads, writes, f, f, o);
  }

  /**
   * A layer's forward: `train` in the training pass, `evaluate` in the evaluation pass. Under mixed
   * precision each output is then rounded to f16 in place (unless `exact`: a ReLU or max-pool of
   * f16 values is one), and an output a backward step reads is saved as packed f16 pairs; a
   * training instance then has no evaluation pass.
   */
  forward(reads: readonly Tensor[], writes: readonly Tensor[], train: () => Dispatch[], evaluate: () => Dispatch[], o: { exact?: boolean } = {}): void {
    if (!this.amp) {
      this.fwdTrain.push(train);
      this.step(this.fwdEval, reads, writes, evaluate);
      return;
    }
    const finish = (): Dispatch[] => writes.flatMap((w) => {
      const packed = this.saved.get(w);
      return packed ? [ampPack(this.gpu, w, packed)] : o.exact ? [] : [ampRound(this.gpu, w)];
    });
    if (this.evalOnly) this.step(this.fwdEval, reads, writes, () => [...evaluate(), ...finish()]);
    else this.step(this.fwdTrain, reads, writes, () => [...train(), ...finish()]);
  }

  /**
   * A backward step that reads the gradients `reads`, writes `writes`, and reads the forward
   * tensors `acts`, which `f` gets in the same order: the tensors themselves, or under mixed
   * precision (for pooled forward outputs) f32 buffers unpacked from their saved f16 copies at the
   * start of the step.
   */
  backStep(reads: readonly (Tensor | null)[], writes: readonly (Tensor | null)[], acts: readonly Tensor[], f: (acts: Tensor[]) => Dispatch[]): void {
    if (!this.ampTrain) {
      this.step(this.steps, reads, writes, () => f([...acts]));
      return;
    }
    const restored = acts.map((t) => {
      if (!this.pooled.some((p) => p.t === t)) return { t, from: null }; // own buffer (the network input): f32, kept
      return { t: this.grad(`${t.name}.restored`, t.shape.slice(1)), from: this.savedCopy(t) };
    });
    this.step(this.steps, reads, [...writes, ...restored.map((r) => r.t)], () => [
      ...restored.flatMap((r) => (r.from ? [ampUnpack(this.gpu, r.from, r.t)] : [])),
      ...f(restored.map((r) => r.t)),
    ]);
  }

  /** The packed f16 copy of forward output `t`, which its forward step then writes. */
  private savedCopy(t: Tensor): Tensor {
    let packed = this.saved.get(t);
    if (!packed) this.saved.set(t, packed = this.alloc(`${t.name}.f16`, [packedLength(t.length)]));
    return packed;
  }

  /**
   * Mixed precision, training: the backward of a ReLU with output `y` (a pooled forward output),
   * as a step that reads y's saved f16 copy: `dy` masked in place and returned, or, when another
   * step also reads dy, a new gradient `name`.
   */
  reluGrad(dy: Tensor, y: Tensor, name: string): Tensor {
    const packed = this.savedCopy(y);
    if (!this.shared.has(dy)) {
      this.step(this.steps, [dy], [dy], () => [ampReluMask(this.gpu, dy, packed)]);
      return dy;
    }
    const dx = this.grad(name, y.shape.slice(1));
    this.step(this.steps, [dy], [dx], () => [ampReluBackward(this.gpu, dy, packed, dx)]);
    return dx;
  }

  /** Mixed precision in a training instance (ReLU backward by reluGrad). */
  get ampTraining(): boolean { return this.ampTrain; }

  /** A gradient that autocast produces in f16: rounded in place after the kernel that wrote it (nothing without mixed precision). */
  rounded(t: Tensor | null): Dispatch[] {
    return this.amp && t ? [ampRound(this.gpu, t)] : [];
  }

  /** The weights of a convolution repacked for its forward (blocksOfCout) or input-gradient kernel; filled by repack()'s dispatches. */
  packedWeights(s: Conv2dShape, weight: Tensor, blocksOfCout: boolean): Tensor {
    return this.packed.view(s, weight, blocksOfCout);
  }

  /**
   * The dispatches that fill every packedWeights view, for the start of each forward list (after
   * the weights they read are written: mixed precision's f16 copy). Call once, after the walk and
   * the backward tape, at the same point in every instance (it allocates).
   */
  repack(): Dispatch[] {
    return this.packed.dispatches(this.gpu, (name, shape) => this.alloc(name, shape), segmentGroup(this.gpu, this.variant));
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
