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
import { Builder, type Shape } from './compile-builder.ts';
import type { Node } from './graph.ts';
import * as conv from '../kernels/conv2d.ts';
import * as bn from '../kernels/batchnorm.ts';
import * as pool from '../kernels/pooling.ts';
import * as lin from '../kernels/linear.ts';
import { add, addRelu, reluBackward, reluForward } from '../kernels/elementwise.ts';

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
  /** Forward pass in eval mode (running statistics), into the same logits. */
  forwardEval: Dispatch[];
  /** Its buffers in allocation order, for a smaller instance to borrow (compileModel's `borrowFrom`). */
  allocations: readonly Tensor[];
  /** Destroys the buffers it allocated (not those it borrowed). */
  destroy(): void;
}


function spatial(shape: Shape): { c: number; h: number; w: number } {
  if (shape.length !== 3) throw new Error(`expected a [C, H, W] activation, got [${shape}]`);
  return { c: shape[0]!, h: shape[1]!, w: shape[2]! };
}

/**
 * Walks `nodes` from input x (per-sample shape `shape`). `needDx`: whether the gradient w.r.t. x
 * is needed (false for the network input, which saves the first layer's input-gradient kernel).
 */
function walk(b: Builder, nodes: readonly Node[], x: Tensor, shape: Shape, needDx: boolean, prefix: string): { y: Tensor; shape: Shape } {
  const { gpu, st, variant } = b;
  // A linear layer directly followed by a ReLU runs both in one dispatch (the ReLU in the GEMM's
  // epilogue, its backward with the bias gradient); the ReLU node is then skipped here. With the
  // 'gpu' kernel set a batch norm (forward and backward) and a residual sum (forward) absorb a
  // following ReLU the same way: fewer passes over memory, the same values.
  let fusedRelu = -1;
  const reluNext = (i: number) => nodes[i + 1]?.op === 'relu';
  for (const [i, n] of nodes.entries()) {
    if (i === fusedRelu) continue;
    const tag = `${prefix}${i}`;
    // A flatten in front only renames the network input (LeNet): the first linear still needs no dx.
    const requireDx = needDx || nodes.slice(0, i).some((p) => p.op !== 'flatten');
    switch (n.op) {
      case 'conv': {
        const { c, h, w } = spatial(shape);
        const s: conv.Conv2dShape = { n: b.batch, cin: c, h, w, cout: n.cout, kh: n.k, kw: n.k, stride: n.stride, pad: n.pad };
        const { ho, wo } = conv.conv2dOutputSize(s);
        const y = b.act(`${n.name}.out`, [n.cout, ho, wo]);
        const weight = st.params.get(`${n.name}.weight`), bias = n.bias ? st.params.get(`${n.name}.bias`) : null;
        const xIn = x;
        b.reserveScratch(conv.conv2dScratchLength(s, variant, gpu.tune));
        b.reservePartials(conv.conv2dPartialsLength(gpu, s, variant));
        let forward: Dispatch[] | null = null; // one set of dispatches serves both modes
        b.both([xIn], [y], () => (forward ??= conv.conv2dForward(gpu, s, xIn, weight, bias, y, b.scratch, variant, b.partials)));
        const dx = requireDx ? b.grad(`${n.name}.dx`, shape) : null;
        b.back.push((dy) => {
          b.step(b.steps, [dy], [dx], () => {
            const d: Dispatch[] = [...conv.conv2dBackwardWeight(gpu, s, xIn, dy, st.grads.get(`${n.name}.weight`), b.scratch, variant)];
            if (n.bias) d.push(...conv.conv2dBackwardBias(gpu, s, dy, st.grads.get(`${n.name}.bias`), b.scratch, variant));
            if (dx) d.push(...conv.conv2dBackwardInput(gpu, s, dy, weight, dx, b.scratch, variant, b.partials));
            return d;
          });
          return dx;
        });
        x = y; shape = [n.cout, ho, wo];
        break;
      }
      case 'bn': {
        const dims = bn.batchnormDims([b.batch, ...shape]);
        const relu = variant === 'gpu' && reluNext(i);
        const y = b.act(relu ? `${prefix}${i + 1}.relu` : `${n.name}.out`, shape);
        const mean = b.alloc(`${n.name}.saved_mean`, [n.c]), invstd = b.alloc(`${n.name}.saved_invstd`, [n.c]);
        const gamma = st.params.get(`${n.name}.weight`), beta = st.params.get(`${n.name}.bias`);
        const runningMean = st.stats.get(`${n.name}.running_mean`), runningVar = st.stats.get(`${n.name}.running_var`);
        const xIn = x;
        b.reserveScratch(bn.batchnormScratchLength(dims, variant));
        const k = { variant, relu, get scratch() { return b.scratch; } };
        b.fwdTrain.push(() => bn.batchnormForwardTrain(gpu, dims, { x: xIn, gamma, beta, y, mean, invstd, runningMean, runningVar }, k));
        b.step(b.fwdEval, [xIn], [y], () => [bn.batchnormForwardEval(gpu, dims, { x: xIn, gamma, beta, runningMean, runningVar, y }, k)]);
        // BN's input gradient is always computed: BN never sits directly on the network input.
        const dx = b.grad(`${n.name}.dx`, shape);
        b.back.push((dy) => {
          // With the ReLU fused, dy is the gradient w.r.t. relu(BN(x)) and the kernels mask it by y.
          b.step(b.steps, [dy], [dx], () => bn.batchnormBackward(gpu, dims, { x: xIn, gamma, mean, invstd, dy, dx,
            dgamma: st.grads.get(`${n.name}.weight`), dbeta: st.grads.get(`${n.name}.bias`), ...(relu ? { y } : {}) }, k));
          return dx;
        });
        x = y;
        if (relu) fusedRelu = i + 1;
        break;
      }
      case 'linear': {
        const feat = numel(shape);
        if (feat !== n.in) throw new Error(`${n.name}: expects ${n.in} input features, the previous layer gives ${feat}`);
        const dims = { batch: b.batch, in: n.in, out: n.out };
        const relu = nodes[i + 1]?.op === 'relu';
        const reluTag = `${prefix}${i + 1}`;
        const y = b.act(relu ? `${reluTag}.relu` : `${n.name}.out`, [n.out]);
        const weight = st.params.get(`${n.name}.weight`), bias = st.params.get(`${n.name}.bias`);
        const xIn = x;
        let forward: Dispatch | null = null;
        b.both([xIn], [y], () => [forward ??= (relu ? lin.linearReluForward : lin.linearForward)(gpu, xIn, weight, bias, y, dims)]);
        const dx = requireDx ? b.grad(`${n.name}.dx`, shape) : null;
        // With the ReLU fused, its backward (dy where y > 0) runs in the bias-gradient dispatch,
        // which writes the masked gradient dz that the weight and input gradients then read.
        const dz = relu ? b.grad(`${reluTag}.relu.dx`, [n.out]) : null;
        const wGrad = st.grads.get(`${n.name}.weight`), bGrad = st.grads.get(`${n.name}.bias`);
        b.back.push((dy) => {
          b.step(b.steps, [dy], [dz, dx], () => {
            const d = dz
              ? [lin.linearReluBackwardBias(gpu, dy, y, dz, bGrad, dims), lin.linearBackwardWeight(gpu, dz, xIn, wGrad, dims)]
              : [lin.linearBackwardWeight(gpu, dy, xIn, wGrad, dims), lin.linearBackwardBias(gpu, dy, bGrad, dims)];
            if (dx) d.push(lin.linearBackwardInput(gpu, dz ?? dy, weight, dx, dims));
            return d;
          });
          return dx;
        });
        x = y; shape = [n.out];
        if (relu) fusedRelu = i + 1;
        break;
      }
      case 'relu': {
        const y = b.act(`${tag}.relu`, shape);
        const xIn = x;
        let forward: Dispatch | null = null;
        b.both([xIn], [y], () => [forward ??= reluForward(gpu, xIn, y)]);
        const dx = b.grad(`${tag}.relu.dx`, shape);
        b.back.push((dy) => {
          b.step(b.steps, [dy], [dx], () => [reluBackward(gpu, xIn, dy, dx)]);
          return dx;
        });
        x = y;
        break;
      }
      case 'maxpool2': case 'avgpool': case 'gap': {
        const { c, h, w } = spatial(shape);
        const d = pool.poolDims([b.batch, c, h, w]);
        const k = n.op === 'avgpool' ? n.k : 2;
        const out: Shape = n.op === 'gap' ? [c] : (() => { const o = pool.pooledSize(d, k); return [c, o.oh, o.ow]; })();
        const y = b.act(`${tag}.${n.op}`, out);
        const xIn = x;
        let forward: Dispatch | null = null;
        b.both([xIn], [y], () => [forward ??= n.op === 'maxpool2' ? pool.maxpool2x2Forward(gpu, d, xIn, y)
          : n.op === 'avgpool' ? pool.avgpoolForward(gpu, d, k, xIn, y) : pool.globalAvgpoolForward(gpu, d, xIn, y)]);
        const dx = b.grad(`${tag}.${n.op}.dx`, shape);
        b.back.push((dy) => {
          b.step(b.steps, [dy], [dx], () => [n.op === 'maxpool2' ? pool.maxpool2x2Backward(gpu, d, xIn, dy, dx)
            : n.op === 'avgpool' ? pool.avgpoolBackward(gpu, d, k, dy, dx) : pool.globalAvgpoolBackward(gpu, d, dy, dx)]);
          return dx;
        });
        x = y; shape = out;
        break;
      }
      case 'flatten':
        // NCHW is already [B, C·H·W] in memory: only the bookkeeping shape changes.
        shape = [numel(shape)];
        break;
      case 'residual': {
        const body = sub(b, n.body, x, shape, `${tag}.body.`);
        const short = n.shortcut.length ? sub(b, n.shortcut, x, shape, `${tag}.short.`) : null;
        if (short && numel(short.shape) !== numel(body.shape)) throw new Error(`${tag}: residual body and shortcut shapes differ`);
        const relu = variant === 'gpu' && reluNext(i);
        const y = b.act(relu ? `${prefix}${i + 1}.relu` : `${tag}.sum`, body.shape);
        const other = short ? short.y : x;
        let forward: Dispatch | null = null;
        // The sum reads the block input (directly or through the shortcut) after the whole body:
        // recording the read here keeps x live across the body in an evaluation-only instance.
        b.both([body.y, other], [y], () => [forward ??= (relu ? addRelu : add)(gpu, body.y, other, y)]);
        const dx = b.grad(`${tag}.dx`, shape);
        b.back.push((dy) => {
          // Body steps, then shortcut steps, then the sum: dy stays live until the shortcut (or,
          // without one, the sum) has read it, and the body's dx until the sum.
          const bdx = runBackward(b, body.back, dy)!, sdx = short ? runBackward(b, short.back, dy)! : dy;
          b.step(b.steps, [bdx, sdx], [dx], () => [add(gpu, bdx, sdx, dx)]);
          return dx;
        });
        if (relu) {
          // The fused ReLU's backward, pushed after the sum's so that it runs first; it reads the
          // fused output, which is > 0 exactly where the sum is.
          const rdx = b.grad(`${prefix}${i + 1}.relu.dx`, body.shape);
          b.back.push((dy) => {
            b.step(b.steps, [dy], [rdx], () => [reluBackward(gpu, y, dy, rdx)]);
            return rdx;
          });
          fusedRelu = i + 1;
        }
        x = y; shape = body.shape;
        break;
      }
    }
  }
  return { y: x, shape };
}

/** Walks a residual branch with its own backward tape (both branches need dx). */
function sub(b: Builder, nodes: readonly Node[], x: Tensor, shape: Shape, prefix: string) {
  const mark = b.back.length;
  const r = walk(b, nodes, x, shape, true, prefix);
  const back = b.back.splice(mark);
  return { ...r, back };
}

/** Runs a tape in reverse, appending its steps to the builder; returns the gradient w.r.t. the tape's input. */
function runBackward(b: Builder, tape: Builder['back'], dy: Tensor): Tensor | null {
  let g: Tensor | null = dy;
  for (let i = tape.length - 1; i >= 0; i--) {
    if (!g) throw new Error('backward tape needs a gradient that an earlier step did not produce');
    g = tape[i]!(g);
  }
  return g;
}

/**
 * `variant` picks the kernel set (default: the adapter's class; tests compile the 'gpu' set on CPU
 * adapters too). `backward: false` compiles an evaluation-only instance: its `backward` and `forwardTrain` lists
 * are empty, no gradient buffers are allocated, and its activations share buffers by lifetime.
 * `borrowFrom`: an instance of the same model, mode and variant with a batch ≥ `batch` whose
 * buffers this one uses the leading part of (the short last batch of an epoch); it must outlive
 * this one, and the two must not run concurrently.
 */
export function compileModel(gpu: Gpu, st: ModelState, batch: number,
  { backward: withBackward = true, variant = gpu.kernels, borrowFrom }: { backward?: boolean; variant?: AdapterClass; borrowFrom?: CompiledModel } = {}): CompiledModel {
  if (borrowFrom && borrowFrom.batch < batch) throw new Error(`compileModel: cannot borrow the buffers of batch ${borrowFrom.batch} for batch ${batch}`);
  const b = new Builder(gpu, st, batch, !withBackward, variant, borrowFrom?.allocations);
  const input = b.tensor('input', [...st.spec.input]);
  const { y: logits, shape } = walk(b, st.spec.layers, input, [...st.spec.input], false, 'l');
  if (numel(shape) !== st.spec.classes) throw new Error(`${st.spec.name}: output has ${numel(shape)} features, expected ${st.spec.classes}`);
  const dlogits = b.tensor('dlogits', [st.spec.classes]);
  if (withBackward) runBackward(b, b.back, dlogits);
  b.allocatePooled(withBackward ? null : logits);
  const backward = b.steps.flatMap((f) => f());
  return {
    batch, input, logits, dlogits, backward,
    // An evaluation-only instance has no training forward: its activations were pooled by their
    // lifetimes in the eval list alone.
    forwardTrain: withBackward ? b.fwdTrain.flatMap((f) => f()) : [], forwardEval: b.fwdEval.flatMap((f) => f()),
    allocations: b.allocations,
    destroy() { for (const t of b.owned) t.buffer.destroy(); },
  };
}
