// The compiler's walk over a model tree (src/nn/compile.ts): one function per layer kind, each
// allocating its outputs and gradients through the Builder and recording its forward dispatches
// and its backward step. The order of allocations and recorded steps is the model's order, which
// buffer sharing by lifetime and a smaller instance's borrowing both rely on.
import type { Dispatch } from '../gpu/dispatch.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import type { Builder, Shape } from './compile-builder.ts';
import type { Node } from './graph.ts';
import * as conv from '../kernels/conv2d.ts';
import * as bn from '../kernels/batchnorm.ts';
import * as pool from '../kernels/pooling.ts';
import * as lin from '../kernels/linear.ts';
import { add, addRelu, reluBackward, reluForward } from '../kernels/elementwise.ts';

/** Where the walk stands when it reaches a node. */
interface At {
  x: Tensor;
  /** Per-sample shape of x. */
  shape: Shape;
  /** Whether the gradient w.r.t. x is needed. */
  requireDx: boolean;
  /** The node's name prefix for tensors that have no layer name (e.g. "l3"), and the next node's. */
  tag: string;
  next: string;
  /** The next node is a ReLU (which this one may absorb). */
  reluNext: boolean;
}

/** A node's output; `fusedRelu` when it absorbed the ReLU after it (which the walk then skips). */
interface Out { y: Tensor; shape: Shape; fusedRelu?: boolean }

type Of<K extends Node['op']> = Extract<Node, { op: K }>;

function spatial(shape: Shape): { c: number; h: number; w: number } {
  if (shape.length !== 3) throw new Error(`expected a [C, H, W] activation, got [${shape}]`);
  return { c: shape[0]!, h: shape[1]!, w: shape[2]! };
}

function convLayer(b: Builder, n: Of<'conv'>, at: At): Out {
  const { gpu, st, variant } = b;
  const { c, h, w } = spatial(at.shape);
  const s: conv.Conv2dShape = { n: b.batch, cin: c, h, w, cout: n.cout, kh: n.k, kw: n.k, stride: n.stride, pad: n.pad };
  const { ho, wo } = conv.conv2dOutputSize(s);
  const y = b.act(`${n.name}.out`, [n.cout, ho, wo]);
  const weight = b.weight(`${n.name}.weight`), bias = n.bias ? b.weight(`${n.name}.bias`) : null;
  const xIn = at.x;
  // The weights are repacked for the forward and input-gradient kernels once per step, for every
  // convolution in one dispatch (b.repack), so the scratch needs no room for them.
  b.reserveScratch(conv.conv2dScratchLength(s, variant, gpu.tune, true));
  b.reservePartials(conv.conv2dPartialsLength(gpu, s, variant));
  const packed = b.packedWeights(s, weight, true);
  let forward: Dispatch[] | null = null; // one set of dispatches serves both modes
  b.both([xIn], [y], () => (forward ??= conv.conv2dForward(gpu, s, xIn, weight, bias, y, b.scratch, variant, b.partials, packed)));
  const dx = at.requireDx ? b.grad(`${n.name}.dx`, at.shape) : null;
  b.back.push((dy) => {
    // Asked for here, when the backward pass is compiled: an evaluation-only instance repacks none.
    const packedInput = dx ? b.packedWeights(s, weight, false) : null;
    b.backStep([dy], [dx], [xIn], ([x]) => {
      const d: Dispatch[] = [...conv.conv2dBackwardWeight(gpu, s, x!, dy, st.grads.get(`${n.name}.weight`), b.scratch, variant)];
      if (n.bias) d.push(...conv.conv2dBackwardBias(gpu, s, dy, st.grads.get(`${n.name}.bias`), b.scratch, variant));
      if (dx) d.push(...conv.conv2dBackwardInput(gpu, s, dy, weight, dx, b.scratch, variant, b.partials, packedInput!), ...b.rounded(dx));
      return d;
    });
    return dx;
  });
  return { y, shape: [n.cout, ho, wo] };
}

function batchnormLayer(b: Builder, n: Of<'bn'>, at: At): Out {
  const { gpu, st, variant } = b;
  const dims = bn.batchnormDims([b.batch, ...at.shape]);
  const relu = variant === 'gpu' && at.reluNext;
  const y = b.act(relu ? `${at.next}.relu` : `${n.name}.out`, at.shape);
  const mean = b.alloc(`${n.name}.saved_mean`, [n.c]), invstd = b.alloc(`${n.name}.saved_invstd`, [n.c]);
  const gamma = st.params.get(`${n.name}.weight`), beta = st.params.get(`${n.name}.bias`);
  const runningMean = st.stats.get(`${n.name}.running_mean`), runningVar = st.stats.get(`${n.name}.running_var`);
  const xIn = at.x;
  b.reserveScratch(bn.batchnormScratchLength(dims, variant));
  const k = { variant, relu, get scratch() { return b.scratch; } };
  b.forward([xIn], [y], () => bn.batchnormForwardTrain(gpu, dims, { x: xIn, gamma, beta, y, mean, invstd, runningMean, runningVar }, k),
    () => [bn.batchnormForwardEval(gpu, dims, { x: xIn, gamma, beta, runningMean, runningVar, y }, k)]);
  // BN's input gradient is always computed: BN never sits directly on the network input.
  const dx = b.grad(`${n.name}.dx`, at.shape);
  b.back.push((dy) => {
    // With the ReLU fused, dy is the gradient w.r.t. relu(BN(x)) and the kernels mask it by y.
    // Under mixed precision the ReLU's backward masks dy first (from y's f16 copy), and the
    // kernels take the masked gradient: the same values, without an f32 copy of y.
    const amp = relu && b.ampTraining;
    const g = amp ? b.reluGrad(dy, y, `${n.name}.relu.dy`) : dy;
    b.backStep([g], [dx], relu && !amp ? [xIn, y] : [xIn], ([x, yr]) => [...bn.batchnormBackward(gpu, dims, { x: x!, gamma, mean, invstd, dy: g, dx,
      dgamma: st.grads.get(`${n.name}.weight`), dbeta: st.grads.get(`${n.name}.bias`), ...(relu && !amp ? { y: yr! } : {}) }, amp ? { ...k, relu: false } : k), ...b.rounded(dx)]);
    return dx;
  });
  return { y, shape: at.shape, fusedRelu: relu };
}

function linearLayer(b: Builder, n: Of<'linear'>, at: At): Out {
  const { gpu, st } = b;
  const feat = numel(at.shape);
  if (feat !== n.in) throw new Error(`${n.name}: expects ${n.in} input features, the previous layer gives ${feat}`);
  const dims = { batch: b.batch, in: n.in, out: n.out };
  const relu = at.reluNext;
    const y = b.act(relu ? `${at.next}.relu` : `${n.name}.out`, [n.out]);
  const weight = b.weight(`${n.name}.weight`), bias = b.weight(`${n.name}.bias`);
  const xIn = at.x;
  let forward: Dispatch | null = null;
  b.both([xIn], [y], () => [forward ??= (relu ? lin.linearReluForward : lin.linearForward)(gpu, xIn, weight, bias, y, dims)]);
  const dx = at.requireDx ? b.grad(`${n.name}.dx`, at.shape) : null;
  // With the ReLU fused, its backward (dy where y > 0) runs in the bias-gradient dispatch,
  // which writes the masked gradient dz that the weight and input gradients then read.
  const dz = relu ? b.grad(`${at.next}.relu.dx`, [n.out]) : null;
  const wGrad = st.grads.get(`${n.name}.weight`), bGrad = st.grads.get(`${n.name}.bias`);
  b.back.push((dy) => {
    b.backStep([dy], [dz, dx], relu ? [xIn, y] : [xIn], ([x, yr]) => {
      const d = dz
        ? [lin.linearReluBackwardBias(gpu, dy, yr!, dz, bGrad, dims), lin.linearBackwardWeight(gpu, dz, x!, wGrad, dims)]
        : [lin.linearBackwardWeight(gpu, dy, x!, wGrad, dims), lin.linearBackwardBias(gpu, dy, bGrad, dims)];
      if (dx) d.push(lin.linearBackwardInput(gpu, dz ?? dy, weight, dx, dims), ...b.rounded(dx));
      return d;
    });
    return dx;
  });
  return { y, shape: [n.out], fusedRelu: relu };
}

function reluLayer(b: Builder, n: Of<'relu'>, at: At): Out {
  const { gpu } = b;
  const y = b.act(`${at.tag}.relu`, at.shape);
  const xIn = at.x;
  let forward: Dispatch | null = null;
  b.both([xIn], [y], () => [forward ??= reluForward(gpu, xIn, y)], { exact: true });
  const dx = b.grad(`${at.tag}.relu.dx`, at.shape);
  b.back.push((dy) => {
    // Under mixed precision from the output's f16 copy (> 0 exactly where the input is), so the
    // input — often a batch norm's output that nothing else reads — is not saved.
    if (b.ampTraining) return b.reluGrad(dy, y, dx.name);
    b.backStep([dy], [dx], [xIn], ([x]) => [reluBackward(gpu, x!, dy, dx)]);
    return dx;
  });
  return { y, shape: at.shape };
}

function poolLayer(b: Builder, n: Of<'maxpool2' | 'avgpool' | 'gap'>, at: At): Out {
  const { gpu } = b;
  const { c, h, w } = spatial(at.shape);
  const d = pool.poolDims([b.batch, c, h, w]);
  const k = n.op === 'avgpool' ? n.k : 2;
  const out: Shape = n.op === 'gap' ? [c] : (() => { const o = pool.pooledSize(d, k); return [c, o.oh, o.ow]; })();
  const y = b.act(`${at.tag}.${n.op}`, out);
  const xIn = at.x;
  let forward: Dispatch | null = null;
  b.both([xIn], [y], () => [forward ??= n.op === 'maxpool2' ? pool.maxpool2x2Forward(gpu, d, xIn, y)
    : n.op === 'avgpool' ? pool.avgpoolForward(gpu, d, k, xIn, y) : pool.globalAvgpoolForward(gpu, d, xIn, y)], { exact: n.op === 'maxpool2' });
  const dx = b.grad(`${at.tag}.${n.op}.dx`, at.shape);
  b.back.push((dy) => {
    // Max-pooling routes each gradient to one input (windows do not overlap): exact in f16. Average
    // pooling divides: its gradient is rounded under mixed precision.
    if (n.op === 'maxpool2') b.backStep([dy], [dx], [xIn], ([x]) => [pool.maxpool2x2Backward(gpu, d, x!, dy, dx)]);
    else b.backStep([dy], [dx], [], () => [n.op === 'avgpool' ? pool.avgpoolBackward(gpu, d, k, dy, dx) : pool.globalAvgpoolBackward(gpu, d, dy, dx), ...b.rounded(dx)]);
    return dx;
  });
  return { y, shape: out };
}

function residualLayer(b: Builder, n: Of<'residual'>, at: At): Out {
  const { gpu, variant } = b;
  const body = sub(b, n.body, at.x, at.shape, `${at.tag}.body.`);
  const short = n.shortcut.length ? sub(b, n.shortcut, at.x, at.shape, `${at.tag}.short.`) : null;
  if (short && numel(short.shape) !== numel(body.shape)) throw new Error(`${at.tag}: residual body and shortcut shapes differ`);
  const relu = variant === 'gpu' && at.reluNext;
  const y = b.act(relu ? `${at.next}.relu` : `${at.tag}.sum`, body.shape);
  const other = short ? short.y : at.x;
  let forward: Dispatch | null = null;
  // The sum reads the block input (directly or through the shortcut) after the whole body:
  // recording the read here keeps x live across the body in an evaluation-only instance.
  b.both([body.y, other], [y], () => [forward ??= (relu ? addRelu : add)(gpu, body.y, other, y)]);
  const dx = b.grad(`${at.tag}.dx`, at.shape);
  b.back.push((dy) => {
    // Body steps, then shortcut steps, then the sum: dy stays live until the shortcut (or,
    // without one, the sum) has read it, and the body's dx until the sum. Both read dy: neither
    // may rewrite it in place.
    b.shared.add(dy);
    const bdx = runBackward(b, body.back, dy)!, sdx = short ? runBackward(b, short.back, dy)! : dy;
    b.backStep([bdx, sdx], [dx], [], () => [add(gpu, bdx, sdx, dx), ...b.rounded(dx)]);
    return dx;
  });
  if (relu) {
    // The fused ReLU's backward, pushed after the sum's so that it runs first; it reads the
    // fused output, which is > 0 exactly where the sum is.
    const rdx = b.grad(`${at.next}.relu.dx`, body.shape);
    b.back.push((dy) => {
      if (b.ampTraining) return b.reluGrad(dy, y, rdx.name);
      b.backStep([dy], [rdx], [y], ([yr]) => [reluBackward(gpu, yr!, dy, rdx)]);
      return rdx;
    });
  }
  return { y, shape: body.shape, fusedRelu: relu };
}

/**
 * Walks `nodes` from input x (per-sample shape `shape`). `needDx`: whether the gradient w.r.t. x
 * is needed (false for the network input, which saves the first layer's input-gradient kernel).
 */
export function walk(b: Builder, nodes: readonly Node[], x: Tensor, shape: Shape, needDx: boolean, prefix: string): { y: Tensor; shape: Shape } {
  // A linear layer directly followed by a ReLU runs both in one dispatch (the ReLU in the GEMM's
  // epilogue, its backward with the bias gradient); the ReLU node is then skipped here. With the
  // 'gpu' kernel set a batch norm (forward and backward) and a residual sum (forward) absorb a
  // following ReLU the same way: fewer passes over memory, the same values.
  let skip = -1;
  for (const [i, n] of nodes.entries()) {
    if (i === skip) continue;
    // A flatten in front only renames the network input (LeNet): the first linear still needs no dx.
    const requireDx = needDx || nodes.slice(0, i).some((p) => p.op !== 'flatten');
    const at: At = { x, shape, requireDx, tag: `${prefix}${i}`, next: `${prefix}${i + 1}`, reluNext: nodes[i + 1]?.op === 'relu' };
    const o = layer(b, n, at);
    x = o.y; shape = o.shape;
    if (o.fusedRelu) skip = i + 1;
  }
  return { y: x, shape };
}

function layer(b: Builder, n: Node, at: At): Out {
  switch (n.op) {
    case 'conv': return convLayer(b, n, at);
    case 'bn': return batchnormLayer(b, n, at);
    case 'linear': return linearLayer(b, n, at);
    case 'relu': return reluLayer(b, n, at);
    case 'maxpool2': case 'avgpool': case 'gap': return poolLayer(b, n, at);
    // NCHW is already [B, C·H·W] in memory: only the bookkeeping shape changes.
    case 'flatten': return { y: at.x, shape: [numel(at.shape)] };
    case 'residual': return residualLayer(b, n, at);
  }
}

/** Walks a residual branch with its own backward tape (both branches need dx). */
function sub(b: Builder, nodes: readonly Node[], x: Tensor, shape: Shape, prefix: string) {
  const mark = b.back.length;
  const r = walk(b, nodes, x, shape, true, prefix);
  const back = b.back.splice(mark);
  return { ...r, back };
}

/** Runs a tape in reverse, appending its steps to the builder; returns the gradient w.r.t. the tape's input. */
export function runBackward(b: Builder, tape: Builder['back'], dy: Tensor): Tensor | null {
  let g: Tensor | null = dy;
  for (let i = tape.length - 1; i >= 0; i--) {
    if (!g) throw new Error('backward tape needs a gradient that an earlier step did not produce');
    g = tape[i]!(g);
  }
  return g;
}
