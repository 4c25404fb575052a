// TensorFlow.js (tfjs-core ops only) versions of the two benchmarked networks and their training
// step, written the way a TF.js user would: variables, tf.variableGrads, a tf.train optimizer.
// Same architecture and parameter count as our zoo (LeNet-300-100: 266,610; ResNet-20: 272,474),
// in TF.js's native NHWC layout; batch norm in training mode updates its running statistics like
// ours (PyTorch momentum 0.1, unbiased variance). Initial values only need to be sane: the
// benchmark times steps, it does not compare trajectories with ours.
import type * as tfc from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

type Tf = typeof tfc;
const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;

export type TfModelName = 'mnist_lenet_300_100' | 'cifar_resnet_20';

export interface TfModel {
  /** Trainable variables (weights, biases, BN γ/β). */
  params: tfc.Variable[];
  /** Conv and linear weights: what a sparsity mask applies to. */
  prunable: tfc.Variable[];
  /** BN running mean/var (not trained). */
  buffers: tfc.Variable[];
  /** Training-mode forward: NHWC (or [B, 784]) input → logits [B, 10]. */
  forward(x: tfc.Tensor): tfc.Tensor2D;
}

class Builder {
  readonly params: tfc.Variable[] = [];
  readonly prunable: tfc.Variable[] = [];
  readonly buffers: tfc.Variable[] = [];
  private n = 0;
  constructor(readonly tf: Tf) {}

  private v(init: tfc.Tensor, trainable: boolean, tag: string): tfc.Variable {
    // Variable names are global in tfjs: a counter keeps two live models apart.
    const name = `bench_${tag}_${this.n++}_${Math.random().toString(36).slice(2, 8)}`;
    const v = this.tf.variable(init, trainable, name);
    init.dispose();
    (trainable ? this.params : this.buffers).push(v);
    return v;
  }

  /** Kaiming-normal weight (std √(2/fanIn)), prunable. */
  weight(shape: number[], fanIn: number): tfc.Variable {
    const w = this.v(this.tf.randomNormal(shape, 0, Math.sqrt(2 / fanIn)), true, 'w');
    this.prunable.push(w);
    return w;
  }

  bias(n: number, fanIn: number): tfc.Variable {
    const b = 1 / Math.sqrt(fanIn);
    return this.v(this.tf.randomUniform([n], -b, b), true, 'b');
  }

  /** Batch norm over NHWC channels in training mode; returns the layer function. */
  bn(c: number): (x: tfc.Tensor4D) => tfc.Tensor4D {
    const { tf } = this;
    const gamma = this.v(tf.ones([c]), true, 'gamma'), beta = this.v(tf.zeros([c]), true, 'beta');
    const runMean = this.v(tf.zeros([c]), false, 'rmean'), runVar = this.v(tf.ones([c]), false, 'rvar');
    return (x) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      const count = x.shape[0] * x.shape[1] * x.shape[2];
      // Side effect like ours: running stats move with the batch statistics (not on the gradient path).
      runMean.assign(tf.add(tf.mul(runMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      runVar.assign(tf.add(tf.mul(runVar, 1 - BN_MOMENTUM), tf.mul(variance, (BN_MOMENTUM * count) / (count - 1))));
      return tf.batchNorm(x, mean, variance, beta, gamma, BN_EPS) as tfc.Tensor4D;
    };
  }

  conv(cin: number, cout: number, k: number, stride: number): (x: tfc.Tensor4D) => tfc.Tensor4D {
    const w = this.weight([k, k, cin, cout], cin * k * k);
    const pad = k === 3 ? 1 : 0;
    return (x) => this.tf.conv2d(x, w as tfc.Tensor4D, stride, pad);
  }
}

function lenet(tf: Tf): TfModel {
  const b = new Builder(tf);
  const sizes = [784, 300, 100, 10];
  const layers = sizes.slice(1).map((out, i) => ({ w: b.weight([sizes[i]!, out], sizes[i]!), b: b.bias(out, sizes[i]!) }));
  return {
    params: b.params, prunable: b.prunable, buffers: b.buffers,
    forward(x) {
      let h = tf.reshape(x, [x.shape[0]!, 784]) as tfc.Tensor2D;
      layers.forEach((l, i) => {
        h = tf.add(tf.matMul(h, l.w as tfc.Tensor2D), l.b);
        if (i < layers.length - 1) h = tf.relu(h);
      });
      return h;
    },
  };
}

/** OpenLTH cifar_resnet_20: 3 segments × 3 basic blocks (16, 32, 64), 1×1 conv + BN shortcut on downsampling. */
function resnet20(tf: Tf): TfModel {
  const b = new Builder(tf);
  const stem = { conv: b.conv(3, 16, 3, 1), bn: b.bn(16) };
  const blocks: ((x: tfc.Tensor4D) => tfc.Tensor4D)[] = [];
  let cin = 16;
  for (const [seg, f] of [16, 32, 64].entries()) {
    for (let i = 0; i < 3; i++) {
      const down = seg > 0 && i === 0;
      const c1 = b.conv(cin, f, 3, down ? 2 : 1), bn1 = b.bn(f), c2 = b.conv(f, f, 3, 1), bn2 = b.bn(f);
      const short = down || cin !== f ? { conv: b.conv(cin, f, 1, 2), bn: b.bn(f) } : null;
      blocks.push((x) => {
        const body = bn2(c2(tf.relu(bn1(c1(x)))));
        return tf.relu(tf.add(body, short ? short.bn(short.conv(x)) : x)) as tfc.Tensor4D;
      });
      cin = f;
    }
  }
  const fc = { w: b.weight([64, 10], 64), b: b.bias(10, 64) };
  return {
    params: b.params, prunable: b.prunable, buffers: b.buffers,
    forward(x) {
      let h = tf.relu(stem.bn(stem.conv(x as tfc.Tensor4D)));
      for (const blk of blocks) h = blk(h);
      return tf.add(tf.matMul(tf.mean(h, [1, 2]) as tfc.Tensor2D, fc.w as tfc.Tensor2D), fc.b);
    },
  };
}

export function tfModel(tf: Tf, name: TfModelName): TfModel {
  return name === 'mnist_lenet_300_100' ? lenet(tf) : resnet20(tf);
}

export function parameterCount(m: TfModel): number {
  return m.params.reduce((n, v) => n + v.size, 0);
}

export interface TfStepOptions {
  lr: number;
  momentum: number;
  weightDecay: number;
  /** Weight density of the prunable tensors; < 1 multiplies them by a fixed random 0/1 mask after each update. */
  density: number;
}

export interface TfStep {
  /** One SGD step on the fixed batch; launches the work and returns (no readback). */
  run(): void;
  dispose(): void;
}

/**
 * A whole training step: forward (training-mode BN), mean softmax cross-entropy, gradients,
 * PyTorch-style weight decay (g + wd·w, on every parameter as OpenLTH does), SGD with momentum,
 * then the mask multiply for the sparse case.
 */
export function tfTrainStep(tf: Tf, model: TfModel, x: tfc.Tensor, onehot: tfc.Tensor2D, o: TfStepOptions, seed: number): TfStep {
  const opt = o.momentum > 0 ? tf.train.momentum(o.lr, o.momentum) : tf.train.sgd(o.lr);
  const masks = o.density < 1
    ? model.prunable.map((w, i) => tf.tidy(() => tf.cast(tf.less(tf.randomUniform(w.shape, 0, 1, 'float32', seed + i), o.density), 'float32')))
    : [];
  for (const [i, m] of masks.entries()) model.prunable[i]!.assign(tf.mul(model.prunable[i]!, m));
  return {
    run() {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(onehot, model.forward(x)) as tfc.Scalar, model.params);
        if (o.weightDecay > 0) for (const v of model.params) grads[v.name] = tf.add(grads[v.name]!, tf.mul(v, o.weightDecay));
        opt.applyGradients(grads);
        for (const [i, m] of masks.entries()) model.prunable[i]!.assign(tf.mul(model.prunable[i]!, m));
      });
    },
    dispose() {
      opt.dispose();
      tf.dispose(masks);
    },
  };
}

export function disposeModel(tf: Tf, m: TfModel): void {
  tf.dispose([...m.params, ...m.buffers]);
}

/**
 * tfjs-core's Node build (tf-core.node.js) carries no gradient functions: the union package
 * @tensorflow/tfjs bundles dist/register_all_gradients.js in, and that file is ESM with
 * extension-less and directory imports that Node cannot load. We bundle it with esbuild (a
 * project dependency) and run it once. Its copy of the op code shares tfjs's global engine,
 * kernel and gradient registries, so the gradients it registers serve the package's ops.
 */
export async function registerTfjsGradients(tf: Tf): Promise<void> {
  if (tf.getGradient('Conv2D')) return;
  const { build } = await import('esbuild');
  const req = createRequire(import.meta.url);
  const out = await build({
    entryPoints: [req.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js')],
    bundle: true, write: false, format: 'cjs', platform: 'node', logLevel: 'silent',
  });
  new Function('require', 'module', 'exports', out.outputFiles[0]!.text)(req, { exports: {} }, {});
  if (!tf.getGradient('Conv2D')) throw new Error('tfjs: registering the gradient functions failed');
}

export const WASM_BACKEND = 'wasm';

/**
 * Makes tfjs's wasm backend (the CPU-native peer) available, loading its .wasm files from
 * node_modules (no network). In Node, tfjs-backend-wasm 4.22 never uses threads
 * (WASM_HAS_MULTITHREAD_SUPPORT is false under IS_NODE), so it runs XNNPACK on one core.
 * Returns a description for the peer name.
 */
export async function enableWasm(tf: Tf): Promise<string> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const dist = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  wasm.setWasmPaths(join(dist, 'dist') + '/');
  registerWasmConvFilterGrad(tf);
  if (!(await tf.setBackend(WASM_BACKEND))) throw new Error('tfjs: could not initialise the wasm backend');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `tfjs-wasm ${wasm.version_wasm} (${simd ? 'simd' : 'no simd'}, ${wasm.getThreadsCount()} thread${wasm.getThreadsCount() === 1 ? '' : 's'})`;
}

/**
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, so tf.conv2d's gradient fails on it
 * ("Kernel 'Conv2DBackpropFilter' not registered"). We register the standard im2col formulation
 * from kernels it does have: dW[i, j] = Xᵢⱼᵀ · dY, where Xᵢⱼ [N·Ho·Wo, Cin] is the padded input
 * strided-sliced at offset (i, j); one batched matMul over the kh·kw offsets.
 */
function registerWasmConvFilterGrad(tf: Tf): void {
  const kernelName = 'Conv2DBackpropFilter';
  if (tf.getKernel(kernelName, WASM_BACKEND)) return;
  tf.registerKernel({
    kernelName, backendName: WASM_BACKEND,
    kernelFunc: ({ inputs, attrs }) => {
      const x = inputs.x as tfc.Tensor4D, dy = inputs.dy as tfc.Tensor4D;
      const { strides, pad, dataFormat, filterShape } = attrs as unknown as
        { strides: [number, number] | number; pad: unknown; dataFormat: string; filterShape: [number, number, number, number] };
      if (typeof pad !== 'number' || dataFormat !== 'NHWC') throw new Error(`bench wasm ${kernelName}: only NHWC with numeric padding is implemented`);
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      const [kh, kw, cin, cout] = filterShape;
      const [n, , , ] = x.shape;
      const [, ho, wo] = dy.shape;
      return tf.tidy(() => {
        const xp = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]);
        const cols: tfc.Tensor[] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const s = tf.stridedSlice(xp, [0, i, j, 0], [n, i + sh * (ho - 1) + 1, j + sw * (wo - 1) + 1, cin], [1, sh, sw, 1]);
            cols.push(tf.reshape(s, [n * ho * wo, cin]));
          }
        }
        const dw = tf.matMul(tf.stack(cols) as tfc.Tensor3D, tf.reshape(dy, [1, n * ho * wo, cout]) as tfc.Tensor3D, true, false);
        return tf.reshape(dw, [kh, kw, cin, cout]);
      }) as unknown as tfc.TensorInfo;
    },
  });
}
