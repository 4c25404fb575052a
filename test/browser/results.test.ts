// The results browser (viewer/results.*) against the view server on a real runs root: a tiny
// lottery with a branch made by the CLI, a copy of it in a sweep-like folder, and malformed
// folders. The page must list the runs, draw exactly the figures that the Node report code
// builds for the same folder (non-blank, checked on screenshots), show the same summary, and
// report a bad folder or a server error with a message while staying usable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { fsSource } from '../../runner/cli/report-command.ts';
import { launchChromium } from '../../runner/host/chromium.ts';
import { startViewServer, type ViewServer } from '../../runner/view-server/server.ts';
import { buildViewer } from '../../runner/view-server/viewer-build.ts';
import { collectResults } from '../../src/report/collect.ts';
import { buildFigures } from '../../src/report/figures.ts';
import { formatSummary } from '../../src/report/summary.ts';
import { assertChartDrawn } from '../png.ts';
import { copyFixture, lenetLottery } from '../fixtures.ts';
import { tempDir } from '../temp-dir.ts';

const SCREENSHOT = fileURLToPath(new URL('../../test-results/browser/results.png', import.meta.url));

let root: string, viewerDir: string, lottery: string;
let server: ViewServer;
let browser: Browser;

before(async () => {
  // A lottery (levels 0–2) and a randomly_reinitialize branch at levels 1–2, made by the CLI: a shared fixture.
  root = copyFixture(await lenetLottery(), 'earlyphase-results-');
  viewerDir = tempDir('earlyphase-results-viewer-');
  lottery = readdirSync(root).find((n) => n.startsWith('lottery_'))!;
  cpSync(join(root, lottery), join(root, 'sweep', lottery), { recursive: true });
  // Malformed: a run-named folder with a torn hparams.json, an empty run-named folder, a folder of random files.
  mkdirSync(join(root, 'lottery_x'));
  writeFileSync(join(root, 'lottery_x', 'hparams.json'), '{"training": {"lr": 0.1');
  writeFileSync(join(root, 'lottery_x', 'noise.bin'), Buffer.from([0, 255, 7, 13]));
  mkdirSync(join(root, 'train_empty'));
  mkdirSync(join(root, 'junk'));
  writeFileSync(join(root, 'junk', 'notes.txt'), 'not a run\n');
  writeFileSync(join(root, 'junk', 'table.csv'), 'a,b\n1,2\n');
  server = await startViewServer({ root, viewerDir: await buildViewer(viewerDir), write: false });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

interface ResultsState { ready: boolean; figures: string[]; error?: string }

/** A page that records console errors and uncaught exceptions. */
async function openPage(): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1700, height: 1100 }, deviceScaleFactor: 1 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { page, errors };
}

/** Waits until the page has drawn its current selection; returns window.__results. */
async function drawn(page: Page): Promise<ResultsState> {
  await page.waitForFunction(() => (globalThis as any).__results?.ready === true, undefined, { timeout: 60_000 });
  return page.evaluate(() => (globalThis as any).__results as ResultsState);
}

/** Clicks a run in the list, waiting for the new selection (not the previous one) to be drawn. */
async function select(page: Page, dir: string): Promise<ResultsState> {
  await page.evaluate(() => { (globalThis as any).__results.ready = false; });
  await page.locator(`#run-list a[data-dir="${dir}"]`).click();
  return drawn(page);
}

const expectedIds = (dir: string) => buildFigures(collectResults(fsSource(root), dir)).map((f) => f.id);

test('lists the runs and draws a lottery with the report code: same figures, same summary, non-blank charts', { timeout: 120_000 }, async () => {
  const { page, errors } = await openPage();
  await page.goto(`${server.url}/results.html`);
  await drawn(page);
  await page.waitForSelector('#run-list a');
  const listed = await page.$$eval('#run-list a', (as) => as.map((a) => `${(a as HTMLElement).dataset.dir} ${a.nextElementSibling?.textContent}`));
  assert.deepEqual(listed, [`${lottery} lottery`, 'lottery_x lottery', 'sweep folder', `sweep/${lottery} lottery`, 'train_empty train']);
  assert.deepEqual(await page.$$eval('header nav a', (as) => as.map((a) => a.getAttribute('href'))), ['index.html', 'results.html', 'check.html']);

  const state = await select(page, lottery);
  assert.equal(state.error, undefined);
  const ids = expectedIds(lottery);
  assert.ok(ids.includes('accuracy_vs_remaining') && ids.includes(`perturbations_${lottery}`), ids.join(', '));
  assert.deepEqual(state.figures, ids);
  assert.equal(await page.locator('#summary').textContent(), formatSummary(collectResults(fsSource(root), lottery)));
  assert.equal(await page.locator('#missing li').count(), 0);
  assert.equal(new URL(page.url()).searchParams.get('dir'), lottery, 'the selection is a deep link');
  for (const id of ids) assertChartDrawn(await page.locator(`#fig-${id}`).screenshot(), `figure ${id}`);
  mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  console.log(`# results view screenshot: ${SCREENSHOT}`);

  // A folder holding runs (a sweep's root) draws everything in it, through the same code.
  const sweep = await select(page, 'sweep');
  assert.equal(sweep.error, undefined);
  assert.deepEqual(sweep.figures, expectedIds('sweep'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('deep link opens a run directly', { timeout: 60_000 }, async () => {
  const { page, errors } = await openPage();
  await page.goto(`${server.url}/results.html?dir=${encodeURIComponent(`sweep/${lottery}`)}`);
  const state = await drawn(page);
  assert.deepEqual(state.figures, expectedIds(`sweep/${lottery}`));
  assert.equal(await page.locator(`#run-list a.selected`).getAttribute('data-dir'), `sweep/${lottery}`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('malformed folders and server errors show a message; a good run still draws afterwards', { timeout: 90_000 }, async () => {
  const { page, errors } = await openPage();
  const status = () => page.locator('#status').textContent();
  await page.goto(`${server.url}/results.html`);
  await drawn(page);
  await page.waitForSelector('#run-list a');

  let state = await select(page, 'lottery_x');
  // A lottery_* folder without replicate_* folders is not a run (src/report/collect.ts), and says why.
  assert.match(state.error ?? '', /lottery_x is not a run: no lottery_\* or train_\* folder with replicate_\* folders in it/);
  assert.deepEqual(state.figures, []);
  assert.deepEqual(await page.locator('#missing li').allTextContents(), ['lottery_x/hparams.json is not valid JSON']);

  state = await select(page, 'train_empty');
  assert.match(state.error ?? '', /train_empty holds no result files/);

  const cases: [string, RegExp][] = [
    ['junk', /junk is not a run: no lottery_\* or train_\* folder/],
    ['no_such_folder', /server error 404 .*not found: no_such_folder/],
    ['../etc', /server error 403 .*starts with a dot/],
  ];
  for (const [dir, expected] of cases) {
    await page.goto(`${server.url}/results.html?dir=${encodeURIComponent(dir)}`);
    state = await drawn(page);
    assert.match(state.error ?? '', expected, dir);
    assert.equal(await status(), state.error, `${dir}: the message is on the page`);
    assert.equal(await page.locator('#figures section').count(), 0);
  }

  state = await select(page, lottery);
  assert.equal(state.error, undefined);
  assert.deepEqual(state.figures, expectedIds(lottery));
  assert.match((await status())!, /^\d+ figures$/);
  // The only console errors are Chromium's notes on the deliberate 404 and 403 answers.
  assert.deepEqual(errors.filter((e) => !/Failed to load resource: the server responded with a status of 40[34]/.test(e)), []);
  assert.equal(errors.length, 2);
  await page.close();
});
