// Every kernel case of src/check/suite.ts against its float64 reference, on every adapter.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { openGpu } from '../../runner/host/dawn.ts';
import type { Gpu } from '../../src/gpu/gpu.ts';
import { kernelSuite } from '../../src/check/suite.ts';
import { describe as describeComparison } from '../../src/check/compare.ts';
import { testAdapters } from '../adapters.ts';

const adapters = await testAdapters();
// EARLYPHASE_KERNEL_FILTER=conv2d runs only the cases whose "family: name" contains the text.
const filter = process.env.EARLYPHASE_KERNEL_FILTER;
const cases = filter ? kernelSuite.filter((c) => `${c.family}: ${c.name}`.includes(filter)) : kernelSuite;
console.log(`# kernel suite adapters: ${adapters.join(' | ')}`);

for (const name of adapters) {
  describe(`kernels on ${name}`, () => {
    let gpu: Gpu;
    before(async () => { gpu = await openGpu(name); });
    after(() => gpu?.destroy());
    for (const c of cases) {
      test(`[${name}] ${c.family}: ${c.name}`, async () => {
        const results = await c.run(gpu);
        assert.ok(results.length > 0, 'case compared nothing');
        const failed = results.filter((r) => !r.ok);
        assert.equal(failed.length, 0, failed.map(describeComparison).join('\n'));
      });
    }
  });
}
