// The kernel suite page (viewer/check.ts) in Chromium's WebGPU (SwiftShader behind Chrome's own
// Dawn and Tint): one case of each kernel family of src/check/suite.ts runs there, read back
// through Playwright — the family's shaders compile and compute in a browser. The whole case table
// runs on every Node adapter (test/kernels/suite.test.ts); EARLYPHASE_KERNEL_FILTER=TEXT runs every
// case whose "family: name" contains TEXT here instead.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { buildViewer } from '../../runner/view-server/viewer-build.ts';
import { startViewServer, type ViewServer } from '../../runner/view-server/server.ts';
import { launchChromium } from '../../runner/host/chromium.ts';
import { kernelSuite } from '../../src/check/suite.ts';
import { tempDir } from '../temp-dir.ts';

/**
 * The case each family runs here: one that exercises the family's forward and backward (or its
 * whole update) on an odd shape, on the kernels a CPU adapter class gets. A family not listed
 * (a new one) runs its first case.
 */
const CHOSEN: Record<string, string> = {
  elementwise: 'relu forward+backward n=4099',
  linear: 'linear batch=9 8->12 registers',
  conv2d: '3x5x7x7 -> 11 k3x3 s2 p1 bias [cpu variant]',
  batchnorm: '2-d odd [3,5,3,5] train fwd + running stats + eval fwd + bwd [cpu set]',
  pooling: 'maxpool2x2 forward+backward [2,3,5,7] with ties',
  loss: 'softmax_cross_entropy N=257 C=7 slot=3',
  sgd: 'sgd_masked n=1003 nesterov, wd, 3 steps',
  adam: 'adam_masked n=777 resumed at t=1000 with non-zero moments, wd, 3 steps',
  reduce: 'sum, sumsq, sum_abs, dot, dist_sq, sign_diff into one output n=8193 variant=cpu',
  batch: 'odd 2×5×7 crop+flip, two image shards, B=7',
};

let browser: Browser;
let server: ViewServer;

before(async () => {
  // The kernel page needs no runs; an empty read-only root keeps the test off the user's runs.
  server = await startViewServer({ root: tempDir('earlyphase-runs-'), viewerDir: await buildViewer(), write: false });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

interface Report { adapter: string; results: { family: string; name: string; ok: boolean; details: string }[]; error?: string }

/** The page's results for `?filter=filter` (every case whose "family: name" contains it). */
async function runPage(filter: string): Promise<Report> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  try {
    await page.goto(`${server.url}/check.html?filter=${encodeURIComponent(filter)}`);
    await page.waitForFunction(() => (globalThis as any).__kernelSuite?.done === true, undefined, { timeout: 880_000, polling: 100 });
    const report = await page.evaluate(() => (globalThis as any).__kernelSuite) as Report;
    assert.equal(report.error, undefined, `page error: ${report.error}`);
    assert.deepEqual(errors, [], `${filter}: console errors`);
    return report;
  } finally {
    await page.close();
  }
}

test('kernel suite in Chromium WebGPU: one case of every kernel family passes', { timeout: 900_000 }, async () => {
  const filter = process.env.EARLYPHASE_KERNEL_FILTER;
  const families = [...new Set(kernelSuite.map((c) => c.family))];
  for (const [family, name] of Object.entries(CHOSEN)) {
    assert.ok(kernelSuite.some((c) => c.family === family && c.name === name), `no case "${family}: ${name}" in src/check/suite.ts: choose another for the browser`);
  }
  const wanted = filter ? [filter] : families.map((f) => `${f}: ${CHOSEN[f] ?? kernelSuite.find((c) => c.family === f)!.name}`);
  const results: Report['results'] = [];
  let adapter = '';
  for (const w of wanted) {
    const report = await runPage(w);
    adapter = report.adapter;
    // A filter is a substring: keep the case asked for (another name may contain it).
    results.push(...(filter ? report.results : report.results.filter((r) => `${r.family}: ${r.name}` === w)));
  }
  console.log(`# browser kernel suite adapter: Chromium ${adapter}; ${results.length} cases (${filter ? `filter "${filter}"` : `one of each of ${families.length} families`})`);
  assert.ok(results.length > 0, 'no cases ran');
  if (!filter) assert.deepEqual(results.map((r) => r.family), families, 'one case of each family ran');
  assert.deepEqual(results.filter((r) => !r.ok).map((f) => `${f.family}: ${f.name}\n${f.details}`), []);
});
