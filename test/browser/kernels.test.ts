// The kernel suite in Chromium's WebGPU (SwiftShader behind Chrome's own Dawn): the same case
// table as test/kernels/suite.test.ts, run by viewer/check.ts, read back through Playwright.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { buildViewer } from '../../runner/view-server/viewer-build.ts';
import { startViewServer, type ViewServer } from '../../runner/view-server/server.ts';
import { launchChromium } from '../../runner/host/chromium.ts';

let browser: Browser;
let server: ViewServer;
// The kernel page needs no runs; an empty read-only root keeps the test off the user's runs.
const root = mkdtempSync(join(tmpdir(), 'earlyphase-runs-'));

before(async () => {
  server = await startViewServer({ root, viewerDir: await buildViewer(), write: false });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

test('kernel suite passes in Chromium WebGPU', { timeout: 900_000 }, async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  const filter = process.env.EARLYPHASE_KERNEL_FILTER;
  await page.goto(`${server.url}/check.html${filter ? `?filter=${encodeURIComponent(filter)}` : ''}`);
  await page.waitForFunction(() => (globalThis as any).__kernelSuite?.done === true, undefined, { timeout: 880_000, polling: 500 });
  const report = await page.evaluate(() => (globalThis as any).__kernelSuite) as
    { adapter: string; results: { family: string; name: string; ok: boolean; details: string }[]; error?: string };
  console.log(`# browser kernel suite adapter: Chromium ${report.adapter}; ${report.results.length} cases`);
  assert.equal(report.error, undefined, `page error: ${report.error}`);
  assert.ok(report.results.length > 0, 'no cases ran');
  const failed = report.results.filter((r) => !r.ok);
  assert.deepEqual(failed.map((f) => `${f.family}: ${f.name}\n${f.details}`), []);
  assert.deepEqual(errors, []);
});
