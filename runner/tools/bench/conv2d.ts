// conv2d benchmark rows: our forward, input-gradient and weight-gradient kernels against
// TensorFlow.js's webgpu kernels for the same convolution (the ones its conv2d gradient runs:
// Conv2DBackpropInput and Conv2DBackpropFilter) at ResNet-20's shapes, batch 128.
// tfjs gets its native NHWC layout (its fastest path); the arithmetic is identical.
import type { Tensor as TfTensor } from '@tensorflow/tfjs-core';
import { createTensor, type Tensor } from '../../../src/gpu/tensor.ts';
import type { Dispatch } from '../../../src/gpu/dispatch.ts';
import * as conv from '../../../src/kernels/conv2d.ts';
import { Rng } from '../../../src/rng.ts';
import type { BenchContext, BenchRow } from './types.ts';
import { TFJS_PEER_NAME } from './tfjs.ts';
import { gflops, timeDispatches, timeTfjs } from './time.ts';

const BATCH = 128;

/** ResNet-20 (CIFAR-10): the 3×3 stride-1 convolution of each stage and the two stride-2 transitions with their 1×1 shortcuts. */
export const RESNET20_CONVS: conv.Conv2dShape[] = [
  { n: BATCH, cin: 16, h: 32, w: 32, cout: 16, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: BATCH, cin: 32, h: 16, w: 16, cout: 32, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: BATCH, cin: 64, h: 8, w: 8, cout: 64, kh: 3, kw: 3, stride: 1, pad: 1 },
  { n: BATCH, cin: 16, h: 32, w: 32, cout: 32, kh: 3, kw: 3, stride: 2, pad: 1 },
  { n: BATCH, cin: 32, h: 16, w: 16, cout: 64, kh: 3, kw: 3, stride: 2, pad: 1 },
  { n: BATCH, cin: 16, h: 32, w: 32, cout: 32, kh: 1, kw: 1, stride: 2, pad: 0 },
  { n: BATCH, cin: 32, h: 16, w: 16, cout: 64, kh: 1, kw: 1, stride: 2, pad: 0 },
];

function random(rng: Rng, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() * 2 - 1;
  return a;
}

function caseName(dir: string, s: conv.Conv2dShape): string {
  return `${dir} ${s.n}x${s.cin}x${s.h}x${s.w}->${s.cout} k${s.kh} s${s.stride}`;
}

export async function benchConv2d(ctx: BenchContext): Promise<BenchRow[]> {
  const { gpu, tf } = ctx;
  const opts = { warmup: ctx.warmup, reps: ctx.reps };
  const rows: BenchRow[] = [];
  for (const s of RESNET20_CONVS) {
    const { ho, wo } = conv.conv2dOutputSize(s);
    const flops = 2 * s.n * s.cout * ho * wo * s.cin * s.kh * s.kw;
    const rng = new Rng(s.cin * 1000 + s.h * 10 + s.stride);
    const xData = random(rng, s.n * s.cin * s.h * s.w);
    const wData = random(rng, s.cout * s.cin * s.kh * s.kw);
    const dyData = random(rng, s.n * s.cout * ho * wo);

    const ours: Tensor[] = [];
    const t = (name: string, shape: number[], data?: Float32Array): Tensor => {
      const r = createTensor(gpu, name, shape, data);
      ours.push(r);
      return r;
    };
    const x = t('x', [s.n, s.cin, s.h, s.w], xData), w = t('w', [s.cout, s.cin, s.kh, s.kw], wData);
    const dy = t('dy', [s.n, s.cout, ho, wo], dyData);
    const y = t('y', [s.n, s.cout, ho, wo]), dx = t('dx', [s.n, s.cin, s.h, s.w]), dw = t('dw', [s.cout, s.cin, s.kh, s.kw]);
    const scratch = t('scratch', [conv.conv2dScratchLength(s, gpu.kernels)]);

    // tfjs: NHWC activations, [kh, kw, Cin, Cout] filter; values are random either way.
    const tx = tf.tensor4d(xData, [s.n, s.h, s.w, s.cin]);
    const tw = tf.tensor4d(wData, [s.kh, s.kw, s.cin, s.cout]);
    const tdy = tf.tensor4d(dyData, [s.n, ho, wo, s.cout]);
    const attrs = { strides: [s.stride, s.stride], pad: s.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    const kernel = (name: string, inputs: Record<string, TfTensor>, extra: Record<string, unknown>) => (): TfTensor =>
      tf.engine().runKernel(name, inputs as never, { ...attrs, ...extra } as never) as TfTensor;

    const directions: { dir: string; ours: Dispatch[]; peer: () => TfTensor }[] = [
      { dir: 'fwd', ours: conv.conv2dForward(gpu, s, x, w, null, y, scratch), peer: () => tf.conv2d(tx, tw, s.stride, s.pad) },
      {
        dir: 'bwd-input', ours: conv.conv2dBackwardInput(gpu, s, dy, w, dx, scratch),
        peer: kernel('Conv2DBackpropInput', { dy: tdy, filter: tw }, { inputShape: [s.n, s.h, s.w, s.cin] }),
      },
      {
        dir: 'bwd-weight', ours: conv.conv2dBackwardWeight(gpu, s, x, dy, dw, scratch),
        peer: kernel('Conv2DBackpropFilter', { x: tx, dy: tdy }, { filterShape: [s.kh, s.kw, s.cin, s.cout] }),
      },
    ];
    try {
      for (const d of directions) {
        const name = caseName(d.dir, s);
        const mine = await timeDispatches(gpu, d.ours, opts);
        const peer = await timeTfjs(tf, d.peer, opts);
        const ratio = peer.medianMs / mine.medianMs;
        ctx.log(`conv2d ${name}: ours ${mine.medianMs.toFixed(1)} ms (${gflops(flops, mine.medianMs).toFixed(1)} GFLOP/s), ` +
          `tfjs ${peer.medianMs.toFixed(1)} ms (${gflops(flops, peer.medianMs).toFixed(1)} GFLOP/s), ${ratio.toFixed(2)}x`);
        rows.push({ suite: 'conv2d', case: name, flops, ours: mine, peer, peerName: TFJS_PEER_NAME, ratio });
      }
    } finally {
      tf.dispose([tx, tw, tdy]);
      for (const r of ours) r.buffer.destroy();
    }
  }
  return rows;
}
