// The table of kernel cases: run by the Node tests on every adapter, by `earlyphase check`,
// and (issue 6) by the browser viewer in Chromium's WebGPU.
import type { KernelCase } from './harness.ts';
import { elementwiseCases } from './cases/elementwise.ts';
import { linearCases } from './cases/linear.ts';
import { conv2dCases } from './cases/conv2d.ts';
import { conv2dPackCases } from './cases/conv2d-pack.ts';
import { batchnormCases } from './cases/batchnorm.ts';
import { poolingCases } from './cases/pooling.ts';
import { lossCases } from './cases/loss.ts';
import { sgdCases } from './cases/sgd.ts';
import { adamCases } from './cases/adam.ts';
import { reduceCases } from './cases/reduce.ts';
import { batchCases } from './cases/batch.ts';
import { ampCases } from './cases/amp.ts';

export const kernelSuite: KernelCase[] = [
  ...elementwiseCases,
  ...linearCases,
  ...conv2dCases,
  ...conv2dPackCases,
  ...batchnormCases,
  ...poolingCases,
  ...lossCases,
  ...sgdCases,
  ...adamCases,
  ...reduceCases,
  ...batchCases,
  ...ampCases,
];
