// The CPU reference model: runs a model tree (src/nn/graph.ts) in float64 by composing the
// per-kernel references of src/ref/ — forward in training mode (batch statistics, running-stat
// update) or eval mode (running statistics), mean softmax cross-entropy, and backward to every
// parameter's gradient. It shares no code with the compiler (src/nn/compile.ts) beyond the tree
// format, so a whole-model test compares two independent executions of the same network.
// The only glue written here is what no kernel reference covers: walking the tree, the residual
// fork (the input's gradient is the sum of both branches' gradients) and flatten (a no-op on NCHW).
//
// Mixed precision (`amp`, PyTorch autocast + GradScaler, what --apex-fp16 trains with) rounds to
// f16 (roundHalf, src/ref/f16.ts) at the points autocast does: the input, the conv and linear
// weights and biases, every layer's output (conv, linear, batch norm, pooling, the residual sum; a
// ReLU of f16 values is one), the gradient of the scaled loss w.r.t. the logits (S · dL/dlogits),
// every input gradient, and the conv and linear parameter gradients (batch norm's stay f32); the
// parameter gradients reported are then divided by S, as GradScaler.unscale_ leaves them.
import type { ModelSpec, Node } from '../nn/graph.ts';
import { roundHalf, roundHalfArray } from './f16.ts';
import { scaleGrad } from './amp.ts';
import * as conv from './conv2d.ts';
import * as bn from './batchnorm.ts';
import * as pool from './pooling.ts';
import * as lin from './linear.ts';
import * as ew from './elementwise.ts';
import { softmaxCrossEntropy } from './loss.ts';

export type Tensors = ReadonlyMap<string, Float64Array>;

/** Named float64 tensors from a flat array laid out like an Arena (its `layout()`: names, offsets, shapes). */
export function unpack(layout: readonly { name: string; offset: number; shape: readonly number[] }[], flat: ArrayLike<number>): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const { name, offset, shape } of layout) {
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(name, Float64Array.from({ length: n }, (_, i) => flat[offset + i]!));
  }
  return out;
}

/**
 * How a parameter's gradient was summed, for tolerances: `k` products per element, each at most
 * about `scale` in magnitude (max|upstream gradient| · max|input|).
 */
export interface Reduction { k: number; scale: number }

export interface ForwardResult {
  logits: Float64Array;
  /** Running statistics after the pass (updated in training mode, unchanged in eval mode). */
  stats: Map<string, Float64Array>;
}

/** Mixed precision: the loss scale S (a power of two) the backward pass runs with. */
export interface AmpRef { scale: number }

export interface StepResult extends ForwardResult {
  loss: number;
  correct: number;
  /** ∂ mean loss / ∂ parameter, for every parameter of the model. */
  grads: Map<string, Float64Array>;
  reductions: Map<string, Reduction>;
}

type Shape = number[]; // per sample: [C, H, W] or [F]
/** Maps the gradient of a segment's output to the gradient of its input. */
type Backward = (dy: Float64Array) => Float64Array;
/** A layer (or a run of layers) applied: its output, the output's per-sample shape, and its backward. */
type Layer = { y: Float64Array; shape: Shape; backward: Backward };

const maxAbs = (a: Float64Array): number => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

class Walker {
  readonly stats = new Map<string, Float64Array>();
  readonly grads = new Map<string, Float64Array>();
  readonly reductions = new Map<string, Reduction>();

  constructor(readonly n: number, readonly params: Tensors, runningStats: Tensors, readonly train: boolean, readonly amp: AmpRef | null = null) {
    for (const [k, v] of runningStats) this.stats.set(k, Float64Array.from(v));
  }

  /** An output autocast produces in f16 (unchanged without mixed precision). */
  h(a: Float64Array): Float64Array {
    return this.amp ? roundHalfArray(a) : a;
  }

  /** A conv or linear parameter as the layer reads it: the f16 copy under mixed precision. */
  weight(name: string): Float64Array {
    return this.h(this.param(name));
  }

  /** A parameter gradient as the optimiser gets it: f16 (for autocast's f16 parameters) and unscaled under mixed precision. */
  unscaled(g: Float64Array, half: boolean): Float64Array {
    const a = this.amp;
    return a ? g.map((v) => (half ? roundHalf(v) : v) / a.scale) : g;
  }

  param(name: string): Float64Array {
    const p = this.params.get(name);
    if (!p) throw new Error(`reference model: parameter ${name} is missing`);
    return p;
  }

  stat(name: string): Float64Array {
    const s = this.stats.get(name);
    if (!s) throw new Error(`reference model: running statistic ${name} is missing`);
    return s;
  }

  grad(name: string, g: Float64Array, r: Reduction): void {
    if (this.grads.has(name)) throw new Error(`reference model: parameter ${name} is used twice`);
    this.grads.set(name, g);
    this.reductions.set(name, r);
  }

  /** Runs `nodes` on x; returns the output and the segment's backward (which records parameter gradients). */
  run(nodes: readonly Node[], x: Float64Array, shape: Shape): Layer {
    const tape: Backward[] = [];
    for (const node of nodes) {
      const r = this.layer(node, x, shape);
      tape.push(r.backward);
      x = r.y; shape = r.shape;
    }
    return { y: x, shape, backward: (dy) => tape.reduceRight((g, back) => back(g), dy) };
  }

  private layer(node: Node, x: Float64Array, shape: Shape): Layer {
    switch (node.op) {
      case 'conv': return this.conv(node, x, shape);
      case 'bn': return this.batchnorm(node, x, shape);
      case 'linear': return this.linear(node, x, shape);
      case 'relu': return { y: ew.reluForward(x), shape, backward: (dy) => ew.reluBackward(x, dy) }; // exact in f16
      case 'maxpool2': case 'avgpool': case 'gap': return this.pool(node, x, shape);
      // NCHW per sample is already its flattened feature vector.
      case 'flatten': return { y: x, shape: [shape.reduce((a, b) => a * b, 1)], backward: (dy) => dy };
      case 'residual': return this.residual(node, x, shape);
    }
  }

  private conv(node: Extract<Node, { op: 'conv' }>, x: Float64Array, shape: Shape): Layer {
    const n = this.n;
    const [cin, h, w] = spatial(shape);
    if (cin !== node.cin) throw new Error(`reference model: ${node.name} expects ${node.cin} channels, got ${cin}`);
    const s = { n, cin, h, w, cout: node.cout, kh: node.k, kw: node.k, stride: node.stride, pad: node.pad };
    const ho = Math.floor((h + 2 * node.pad - node.k) / node.stride) + 1, wo = Math.floor((w + 2 * node.pad - node.k) / node.stride) + 1;
    const weight = this.weight(`${node.name}.weight`), bias = node.bias ? this.weight(`${node.name}.bias`) : null;
    const y = this.h(conv.conv2dForward(s, x, weight, bias));
    return {
      y, shape: [node.cout, ho, wo],
      backward: (dy) => {
        const k = n * ho * wo, g = maxAbs(dy);
        this.grad(`${node.name}.weight`, this.unscaled(conv.conv2dBackwardWeight(s, x, dy), true), { k, scale: g * maxAbs(x) });
        if (node.bias) this.grad(`${node.name}.bias`, this.unscaled(conv.conv2dBackwardBias(s, dy), true), { k, scale: g });
        return this.h(conv.conv2dBackwardInput(s, dy, weight));
      },
    };
  }

  private batchnorm(node: Extract<Node, { op: 'bn' }>, x: Float64Array, shape: Shape): Layer {
    const d: bn.Dims = { n: this.n, c: shape[0]!, s: shape.slice(1).reduce((a, b) => a * b, 1) };
    const gamma = this.param(`${node.name}.weight`), beta = this.param(`${node.name}.bias`);
    const meanName = `${node.name}.running_mean`, varName = `${node.name}.running_var`;
    if (!this.train) {
      return {
        y: this.h(bn.forwardEval(x, gamma, beta, this.stat(meanName), this.stat(varName), d)), shape,
        backward: () => { throw new Error('reference model: backward is only defined for the training-mode forward'); },
      };
    }
    const f = bn.forwardTrain(x, gamma, beta, this.stat(meanName), this.stat(varName), d);
    this.stats.set(meanName, f.runningMean);
    this.stats.set(varName, f.runningVar);
    return {
      y: this.h(f.y), shape,
      backward: (dy) => {
        const b = bn.backward(x, gamma, dy, d);
        const k = d.n * d.s, g = maxAbs(dy);
        this.grad(`${node.name}.weight`, this.unscaled(b.dgamma, false), { k, scale: g * maxNormalised(x, f, d) });
        this.grad(`${node.name}.bias`, this.unscaled(b.dbeta, false), { k, scale: g });
        return this.h(b.dx);
      },
    };
  }

  private linear(node: Extract<Node, { op: 'linear' }>, x: Float64Array, shape: Shape): Layer {
    const n = this.n;
    const features = shape.reduce((a, b) => a * b, 1);
    if (features !== node.in) throw new Error(`reference model: ${node.name} expects ${node.in} features, got ${features}`);
    const d: lin.LinearDims = { batch: n, in: node.in, out: node.out };
    const weight = this.weight(`${node.name}.weight`);
    return {
      y: this.h(lin.linearForward(x, weight, this.weight(`${node.name}.bias`), d)), shape: [node.out],
      backward: (dy) => {
        const g = maxAbs(dy);
        this.grad(`${node.name}.weight`, this.unscaled(lin.linearBackwardWeight(dy, x, d), true), { k: n, scale: g * maxAbs(x) });
        this.grad(`${node.name}.bias`, this.unscaled(lin.linearBackwardBias(dy, d), true), { k: n, scale: g });
        return this.h(lin.linearBackwardInput(dy, weight, d));
      },
    };
  }

  private pool(node: Extract<Node, { op: 'maxpool2' | 'avgpool' | 'gap' }>, x: Float64Array, shape: Shape): Layer {
    const [c, h, w] = spatial(shape);
    const d: pool.Dims = { n: this.n, c, h, w };
    if (node.op === 'gap') return { y: this.h(pool.globalAvgpoolForward(x, d)), shape: [c], backward: (dy) => this.h(pool.globalAvgpoolBackward(dy, d)) };
    const k = node.op === 'avgpool' ? node.k : 2;
    const out = [c, Math.floor(h / k), Math.floor(w / k)];
    // Max-pooling picks f16 values and routes f16 gradients: exact in f16.
    if (node.op === 'maxpool2') return { y: pool.maxpoolForward(x, d, 2), shape: out, backward: (dy) => pool.maxpoolBackward(x, dy, d, 2) };
    return { y: this.h(pool.avgpoolForward(x, d, k)), shape: out, backward: (dy) => this.h(pool.avgpoolBackward(dy, d, k)) };
  }

  private residual(node: Extract<Node, { op: 'residual' }>, x: Float64Array, shape: Shape): Layer {
    const body = this.run(node.body, x, shape);
    // An empty shortcut is the identity, whose backward passes the gradient through.
    const short = this.run(node.shortcut, x, shape);
    if (body.y.length !== short.y.length) throw new Error(`reference model: residual body gives [${body.shape}], shortcut [${short.shape}]`);
    return {
      y: this.h(ew.add(body.y, short.y)), shape: body.shape,
      // The fork: x feeds both branches, so its gradient is the sum of theirs.
      backward: (dy) => this.h(ew.add(body.backward(dy), short.backward(dy))),
    };
  }
}

/** max |x̂| over the batch: the size of the terms dγ sums. */
function maxNormalised(x: Float64Array, f: bn.TrainForward, d: bn.Dims): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const c = Math.floor(i / d.s) % d.c;
    m = Math.max(m, Math.abs((x[i]! - f.mean[c]!) * f.invstd[c]!));
  }
  return m;
}

function spatial(shape: Shape): [number, number, number] {
  if (shape.length !== 3) throw new Error(`reference model: expected a [C, H, W] activation, got [${shape}]`);
  return [shape[0]!, shape[1]!, shape[2]!];
}

function checkInput(spec: ModelSpec, x: Float64Array, n: number): void {
  const per = spec.input.reduce((a, b) => a * b, 1);
  if (x.length !== n * per) throw new Error(`reference model: input has ${x.length} values, expected ${n} × [${spec.input}]`);
}

/** Forward pass for a batch of n samples; `train` selects batch statistics (and updates the running ones). `amp`: mixed precision (any scale). */
export function forward(spec: ModelSpec, params: Tensors, runningStats: Tensors, x: Float64Array, n: number, train: boolean, amp: AmpRef | null = null): ForwardResult {
  checkInput(spec, x, n);
  const w = new Walker(n, params, runningStats, train, amp);
  const { y } = w.run(spec.layers, w.h(x), [...spec.input]);
  return { logits: y, stats: w.stats };
}

/**
 * One training step's numbers: training-mode forward, mean cross-entropy, every parameter
 * gradient. `amp`: mixed precision with loss scale S (the gradients are those after unscaling).
 */
export function trainStep(spec: ModelSpec, params: Tensors, runningStats: Tensors, x: Float64Array, labels: ArrayLike<number>, amp: AmpRef | null = null): StepResult {
  const n = labels.length;
  checkInput(spec, x, n);
  const w = new Walker(n, params, runningStats, true, amp);
  const { y, shape, backward } = w.run(spec.layers, w.h(x), [...spec.input]);
  if (shape.reduce((a, b) => a * b, 1) !== spec.classes) throw new Error(`reference model: output [${shape}] is not ${spec.classes} classes`);
  const ce = softmaxCrossEntropy(y, labels, spec.classes);
  backward(amp ? scaleGrad(ce.dlogits, amp.scale) : ce.dlogits);
  return { logits: y, stats: w.stats, loss: ce.meanLoss, correct: ce.correct, grads: w.grads, reductions: w.reductions };
}
