// The run-in-tab page (viewer/index.*) in Chromium (SwiftShader) against the view server: a tiny
// lottery started from the form draws live charts and masks; its metrics match the same job run
// headless in Node on lavapipe; "Save to server" and the downloaded archive give run folders the
// CLI accepts as finished; pause/resume/stop work and a restarted run resumes; bad input, a
// diverging run and a browser without WebGPU each show a message while the page stays usable.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../runner/host/chromium.ts';
import { startViewServer, type ViewServer } from '../../runner/view-server/server.ts';
import { openGpu } from '../../runner/host/dawn.ts';
import { loadDataset } from '../../runner/data/datasets.ts';
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { resolveBranch, splitBranchArgs } from '../../src/lottery/branch.ts';
import { decodeSafetensors } from '../../src/io/safetensors.ts';
import { tensorSeed } from '../../src/nn/init.ts';
import { levelDir, planLottery, runLottery, type LotteryJob } from '../../src/lottery/lottery.ts';
import { parseMetrics } from '../../src/train/metrics.ts';
import { MemoryStorage } from '../../viewer/memory-storage.ts';
import { assertChartDrawn } from '../png.ts';
import { earlyphase, runCommand } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

const SHOTS = fileURLToPath(new URL('../../test-results/browser/', import.meta.url));
/** 1,024 images / batch 128 = 8 iterations per epoch; 24 iterations; levels 0 and 1 rewound to 4it. */
const TINY = { subsample: '1024', trainingSteps: '24it', rewindingSteps: '4it', levels: '1' };
// SwiftShader and lavapipe compile the same WGSL; float results differ only in rounding order.
const LOSS_TOLERANCE = 1e-4, ACCURACY_TOLERANCE = 0.002;

interface RunView {
  state: string; error: string | null; adapter: string | null; folder: string | null; argv: string[];
  levels: { level: number; remaining: number; testAccuracy: number | null }[];
  events: { type: string; run: string; iteration?: number; resumed?: boolean; startIteration?: number }[];
  charts: Record<string, number>;
}

let root: string, server: ViewServer, browser: Browser;
let tab: { page: Page; errors: string[] } | null = null;
let done: RunView | null = null;

before(async () => {
  root = tempDir('earlyphase-run-tab-');
  mkdirSync(SHOTS, { recursive: true });
  server = await startViewServer({ root });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page of the run tab with page errors and console errors collected. */
async function openTab(init?: () => void): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  if (init) await page.addInitScript(init);
  await page.goto(`${server.url}/index.html`);
  await page.waitForFunction(() => { const s = document.getElementById('status')!; return s.textContent!.startsWith('ready') || s.className === 'error'; },
    undefined, { timeout: 120_000 });
  return { page, errors };
}

const state = (page: Page) => page.evaluate(() => (globalThis as unknown as { __run: RunView }).__run) as Promise<RunView>;
const status = (page: Page) => page.textContent('#status') as Promise<string>;

async function fill(page: Page, values: Record<string, string>): Promise<void> {
  for (const [name, v] of Object.entries(values)) await page.fill(`[name=${name}]`, v);
}

async function waitState(page: Page, states: string[], timeout = 180_000): Promise<RunView> {
  await page.waitForFunction((s) => s.includes((globalThis as unknown as { __run: RunView }).__run.state), states, { timeout, polling: 200 });
  return state(page);
}

test('(a) the page loads with no errors; bad input shows the CLI\'s message and starts nothing', { timeout: 180_000 }, async () => {
  tab = await openTab();
  const { page, errors } = tab;
  const s = await state(page);
  console.log(`# adapter: Chromium ${s.adapter}`);
  assert.match(s.adapter ?? '', /swiftshader/i);
  assert.equal(await page.isVisible('#gpu-message'), false);
  for (const link of ['index.html', 'results.html', 'check.html']) assert.ok(await page.isVisible(`header a[href="${link}"]`), link);
  // Conv-2's note only while Conv-2 is picked.
  assert.equal(await page.isVisible('#conv2-note'), false, 'Conv-2 note shown for LeNet');
  await page.selectOption('[name=model]', 'cifar_conv_2');
  assert.equal(await page.isVisible('#conv2-note'), true, 'Conv-2 note hidden for Conv-2');
  await page.selectOption('[name=model]', 'mnist_lenet_300_100');
  assert.equal(await page.isVisible('#conv2-note'), false);
  await fill(page, { ...TINY, levels: '2-1' });
  await page.click('#start');
  await page.waitForFunction(() => document.getElementById('status')!.className === 'error', undefined, { timeout: 60_000 });
  assert.match(await status(page), /--levels "2-1": range "2-1" runs backwards/);
  await fill(page, { levels: '1', trainingSteps: '24 iterations' });
  await page.click('#start');
  await page.waitForFunction(() => /malformed step "24 iterations"/.test(document.getElementById('status')!.textContent!));
  assert.match(await status(page), /^--training-steps: malformed step "24 iterations"; expected <N>ep, <N>it/);
  // A dataset the server has no files for (MNIST is not installed by setup.sh) is named, with what to do.
  const info = await (await fetch(`${server.url}/api/info`)).json() as { datasets: Record<string, { available: boolean }> };
  if (!info.datasets.mnist!.available) {
    await fill(page, { trainingSteps: TINY.trainingSteps });
    await page.selectOption('[name=dataset]', 'mnist');
    await page.click('#start');
    await page.waitForFunction(() => /dataset mnist is not available/.test(document.getElementById('status')!.textContent!));
    assert.match(await status(page), /Run `bash runner\/setup\.sh` or pass --data-dir to `earlyphase view`/);
    await page.selectOption('[name=dataset]', 'fashion_mnist');
  } else console.log('# mnist is installed here: the missing-dataset message is not exercised');
  const after = await state(page);
  assert.equal(after.state, 'idle');
  assert.equal(after.events.length, 0);
  assert.deepEqual(errors, []);
});

test('(b) a tiny run started from the form updates the charts and draws the masks', { timeout: 300_000 }, async () => {
  assert.ok(tab, 'needs the page of (a)');
  const { page, errors } = tab;
  await fill(page, TINY);
  await page.check('[name=telemetry]');
  await page.selectOption('[name=branch]', 'randomly_reinitialize');
  await page.click('#start');
  await waitState(page, ['running']);
  // Sample the charts' point counts while it runs: they must grow over time.
  const samples: number[] = [];
  let shot = false;
  for (let s = await state(page); s.state === 'running'; s = await state(page)) {
    const c = s.charts;
    const total = Object.values(c).reduce((a, b) => a + b, 0);
    if (samples.at(-1) !== total) samples.push(total);
    if (!shot && (c.live_loss ?? 0) >= 5) {
      await page.screenshot({ path: join(SHOTS, 'run-in-progress.png'), fullPage: true });
      assertChartDrawn(await page.locator('#fig-live_loss').screenshot(), 'loss chart during the run');
      shot = true;
    }
    await page.waitForTimeout(300);
  }
  done = await state(page);
  assert.equal(done.state, 'done', done.error ?? '');
  console.log(`# chart points over time: ${samples.join(' → ')}`);
  assert.ok(shot, 'the loss chart never had 5 points while running');
  assert.ok(samples.length >= 3 && samples.every((v, i) => i === 0 || v > samples[i - 1]!), `chart data did not grow: ${samples.join(', ')}`);
  await page.screenshot({ path: join(SHOTS, 'run-done.png'), fullPage: true });
  // The report's own figures over the tab's run folder: telemetry per level, the branch beside the trunk.
  for (const id of ['live_loss', 'live_accuracy', 'accuracy_vs_remaining', 'telemetry_l2_to_start', 'telemetry_sign_changed', `perturbations_${done.folder}`]) {
    assertChartDrawn(await page.locator(`#fig-${id}`).screenshot(), id);
  }
  const branchRuns = done.events.filter((e) => e.type === 'done' && e.run.endsWith('/randomly_reinitialize')).length;
  assert.equal(branchRuns, 2, 'the branch runs at levels 0 and 1');
  assert.deepEqual(done.levels.map((l) => l.level), [0, 1]);
  assert.equal(done.levels[0]!.remaining, 1);
  assert.ok(Math.abs(done.levels[1]!.remaining - 0.8) < 0.01, `level 1 keeps ${done.levels[1]!.remaining}`);
  // Level 1's mask: 300 tiles of 28×28 (fc_layers.0), about 80% white.
  const mask = await page.evaluate(() => {
    const c = document.querySelector('#mask-1 canvas') as HTMLCanvasElement;
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let white = 0, black = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] === 255) { if (d[i] === 255) white++; else if (d[i] === 0) black++; }
    return { white, black };
  });
  assert.equal(mask.white + mask.black, 300 * 784);
  assert.ok(Math.abs(mask.white / (300 * 784) - 0.8) < 0.05, `mask kept ${mask.white / (300 * 784)}`);
  assert.deepEqual(errors, []);
});

test('(c) the same job in Node on lavapipe gives the same losses and accuracies', { timeout: 180_000 }, async () => {
  assert.ok(tab && done, 'needs the run of (b)');
  const { hparams, lottery } = parseLotteryArgv(done.argv);
  const data = await loadDataset('fashion_mnist');
  const job: LotteryJob = { hparams, lottery, replicate: 1, maxLevel: 1 };
  const plan = planLottery(job, data);
  assert.equal(plan.root.split('/')[0], done.folder, 'the tab and Node name the run folder alike');
  const gpu = await openGpu('llvmpipe');
  console.log(`# adapter: Node ${gpu.adapter.description} (${gpu.adapter.shortName}) vs Chromium ${done.adapter}`);
  const storage = new MemoryStorage();
  let node;
  try {
    node = await runLottery({ gpu, storage, data, sink: () => {} }, job);
  } finally {
    gpu.destroy();
  }
  let maxLoss = 0, maxAcc = 0, compared = 0;
  for (const r of node) {
    const csv = `${levelDir(plan, r.level)}/metrics.csv`;
    const tabCsv = await tab.page.evaluate((p) => (globalThis as unknown as { __run: { text(p: string): string | null } }).__run.text(p), csv);
    assert.ok(tabCsv, `${csv} missing in the tab`);
    const loss = (rows: ReturnType<typeof parseMetrics>) => new Map(rows.filter((m) => m.name === 'train_loss').map((m) => [m.iteration, m.value]));
    const a = loss(parseMetrics(tabCsv, csv)), b = loss(parseMetrics(storage.text(csv)!, csv));
    assert.deepEqual([...a.keys()], [...b.keys()], `level ${r.level}: iterations`);
    for (const [it, v] of a) { maxLoss = Math.max(maxLoss, Math.abs(v - b.get(it)!)); compared++; }
    maxAcc = Math.max(maxAcc, Math.abs(done.levels[r.level]!.testAccuracy! - r.testAccuracy!));
  }
  console.log(`# ${compared} per-iteration losses: max |Δ| ${maxLoss.toExponential(2)} (tolerance ${LOSS_TOLERANCE}); level accuracies: max |Δ| ${maxAcc} (tolerance ${ACCURACY_TOLERANCE})`);
  assert.ok(compared >= 40, `only ${compared} losses compared`);
  assert.ok(maxLoss <= LOSS_TOLERANCE, `loss differs by ${maxLoss}`);
  assert.ok(maxAcc <= ACCURACY_TOLERANCE, `test accuracy differs by ${maxAcc}`);
});

const filesUnder = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true })
  .filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();

test('(d) "Save to server" and the downloaded archive are run folders the CLI finds finished', { timeout: 180_000 }, async () => {
  assert.ok(tab && done, 'needs the run of (b)');
  const { page, errors } = tab;
  await page.click('#save');
  await page.waitForFunction(() => /^saved \d+ files/.test(document.getElementById('status')!.textContent!) || document.getElementById('status')!.className === 'error');
  assert.match(await status(page), /^saved \d+ files/);
  const saved = join(root, done.folder!);
  const files = filesUnder(saved);
  assert.ok(files.includes('replicate_1/level_1/main/mask.safetensors.sha256'), files.join('\n'));
  const r = await earlyphase(['lottery', ...done.argv, '--levels', '1', '--root', root, '--adapter', 'llvmpipe'], { timeoutMs: 120_000 });
  assert.equal(r.status, 0, r.err);
  const out = r.out + r.err;
  assert.equal((out.match(/already done/g) ?? []).length, 2, out);
  assert.doesNotMatch(out, /done in|resuming|discarding/, out);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  const unpacked = tempDir('earlyphase-run-tar-');
  {
    const tarFile = join(unpacked, 'run.tar');
    await download.saveAs(tarFile);
    const x = await runCommand('tar', ['xf', tarFile, '-C', unpacked], { timeoutMs: 60_000 });
    assert.equal(x.status, 0, x.err);
    const folder = join(unpacked, done.folder!);
    // Byte-identical to what the server (FsStorage semantics) wrote, sidecars included.
    assert.deepEqual(filesUnder(folder), files);
    for (const f of files) assert.ok(readFileSync(join(folder, f)).equals(readFileSync(join(saved, f))), f);
  }
  assert.deepEqual(errors, []);
});

/** A file of the tab's MemoryStorage, as bytes (null when absent). */
async function tabBytes(page: Page, path: string): Promise<Uint8Array | null> {
  const b64 = await page.evaluate((p) => {
    const b = (globalThis as unknown as { __run: { storage: { files: Map<string, Uint8Array> } } }).__run.storage.files.get(p);
    return b ? btoa(Array.from(b, (c) => String.fromCharCode(c)).join('')) : null;
  }, path);
  // A plain Uint8Array: a Buffer's slice() is a view, and decodeSafetensors expects slice() to copy.
  return b64 === null ? null : new Uint8Array(Buffer.from(b64, 'base64'));
}

/** Starts a run from the form and waits for its end (the status line is cleared first: the previous run also ended 'done'). */
async function runToEnd(page: Page): Promise<RunView> {
  await page.evaluate(() => { document.getElementById('status')!.textContent = ''; });
  await page.click('#start');
  await page.waitForFunction(() => { const s = document.getElementById('status')!; return /^(done|stopped)/.test(s.textContent!) || s.className === 'error'; },
    undefined, { timeout: 240_000, polling: 200 });
  return state(page);
}

test('(g) a branch\'s options: the form shows them, a bad value gets the CLI\'s error, a good one names the folder as the CLI would', { timeout: 300_000 }, async () => {
  assert.ok(tab && done, 'needs the run of (b)'); // same lottery: its levels are skipped, only the branch trains
  const { page, errors } = tab;
  await page.selectOption('[name=branch]', 'gaussian_noise');
  assert.equal(await page.inputValue('[name=branch-alpha]'), '', 'alpha has no default');
  assert.equal(await page.inputValue('[name=branch-scale]'), 'init_std');
  assert.match((await page.getAttribute('label:has([name=branch-alpha])', 'title'))!, /sigma_layer/);
  await page.fill('[name=branch-alpha]', '-1');
  await page.locator('#run-form').screenshot({ path: join(SHOTS, 'run-options.png') });
  const before = await state(page);
  await page.click('#start');
  await page.waitForFunction(() => /gaussian_noise\.alpha/.test(document.getElementById('status')!.textContent!), undefined, { timeout: 60_000 });
  // The CLI's text: what `earlyphase branch gaussian_noise --alpha -1` gets from the same parser.
  const cliError = (() => { try { resolveBranch({ ...parseLotteryArgv(done.argv), replicate: 1, maxLevel: 1, levels: [0, 1], branch: 'gaussian_noise', options: splitBranchArgs('gaussian_noise', ['--alpha', '-1']).options, seed: 1 }); } catch (e) { return (e as Error).message; } return 'no error'; })();
  assert.equal(await status(page), cliError);
  const after = await state(page);
  assert.deepEqual([after.state, after.events.length], [before.state, before.events.length], 'nothing started');

  await page.fill('[name=branch-alpha]', '0.5');
  await page.selectOption('[name=branch-scale]', 'effective_std');
  // The branch's per-epoch accuracies are not what this checks; evaluating only at the end saves
  // SwiftShader a pass over the test set per epoch (it does not change the lottery's folder).
  await page.check('[name=evaluateOnlyAtEnd]');
  const s = await runToEnd(page);
  assert.equal(s.state, 'done', s.error ?? '');
  assert.match((await page.textContent('#command'))!, /\nearlyphase branch gaussian_noise .* --alpha 0\.5 --scale effective_std$/);
  const { hparams, lottery } = parseLotteryArgv(s.argv);
  const { options, hash } = resolveBranch({ hparams, lottery, replicate: 1, maxLevel: 1, levels: [0, 1], branch: 'gaussian_noise',
    options: splitBranchArgs('gaussian_noise', ['--alpha', '0.5', '--scale', 'effective_std']).options, seed: tensorSeed(1, 'branch:gaussian_noise') });
  for (const level of [0, 1]) {
    const json = await tabBytes(page, `${s.folder}/replicate_1/level_${level}/branch_gaussian_noise_${hash}/branch.json`);
    assert.ok(json, `level ${level}: no branch_gaussian_noise_${hash} folder`);
    assert.deepEqual(JSON.parse(new TextDecoder().decode(json)).options, options);
  }
  assert.deepEqual(options, { alpha: 0.5, scale: 'effective_std' });
  assert.equal(s.events.filter((e) => e.type === 'done' && e.run.endsWith('/gaussian_noise') && !(e as { skipped?: boolean }).skipped).length, 2);
  await page.selectOption('[name=branch]', '');
  assert.deepEqual(errors, []);
});

test('(h) pre-training (rotation) before level 0: the rewind point is off and level 0 starts from the pre-trained weights', { timeout: 300_000 }, async () => {
  assert.ok(tab, 'needs the page of (a)');
  const { page, errors } = tab;
  await fill(page, { ...TINY, levels: '0' });
  await page.check('[name=pretrain]');
  assert.equal(await page.isDisabled('[name=rewindingSteps]'), true);
  assert.ok(await page.isVisible('#rewind-note'));
  await page.selectOption('[name=pretrainTask]', 'rotation');
  await page.fill('[name=pretrainSteps]', '8it');
  await page.check('[name=evaluateOnlyAtEnd]'); // weights are checked here, not accuracies
  const s = await runToEnd(page);
  assert.equal(s.state, 'done', s.error ?? '');
  assert.ok(s.argv.includes('--pretrain') && !s.argv.includes('--rewinding-steps'), s.argv.join(' '));
  const root = `${s.folder}/replicate_1`;
  assert.ok(s.events.some((e) => e.type === 'done' && e.run === `${root}/pretrain`), 'the pre-training run finished');
  const level0 = s.events.find((e) => e.type === 'start' && e.run === `${root}/level_0`)!;
  assert.equal(level0.startIteration, 8, 'pre-training counts against the budget: level 0 trains 8 → 24');
  // Level 0's starting weights are the pre-trained ones, except the rotation task's 4-way head.
  const pre = decodeSafetensors((await tabBytes(page, `${root}/pretrain/main/model_ep1_it0.safetensors`))!, 'pretrain');
  const w0 = decodeSafetensors((await tabBytes(page, `${root}/level_0/main/model_ep1_it0.safetensors`))!, 'level 0');
  const names = [...w0.tensors.keys()].filter((n) => !n.startsWith('fc.'));
  assert.ok(names.length >= 4, names.join(', '));
  const bytesOf = (t: { data: ArrayBufferView }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  for (const n of names) assert.ok(bytesOf(w0.tensors.get(n)!).equals(bytesOf(pre.tensors.get(n)!)), `${n} differs from the pre-trained one`);
  assert.notDeepEqual(w0.tensors.get('fc.weight')!.shape, pre.tensors.get('fc.weight')!.shape);
  assert.match((await page.textContent('#fig-live_loss'))!, /pretrain/, 'the pre-training loss is its own series');
  await page.uncheck('[name=pretrain]');
  await page.uncheck('[name=evaluateOnlyAtEnd]');
  assert.equal(await page.isDisabled('[name=rewindingSteps]'), false);
  assert.deepEqual(errors, []);
});

test('(f) pause, resume and stop; starting again resumes from the last checkpoint', { timeout: 300_000 }, async () => {
  const { page, errors } = await openTab();
  await fill(page, { ...TINY, replicate: '2' });
  await page.check('[name=evaluateOnlyAtEnd]'); // checkpoints, not accuracies, are what pausing and resuming are about
  await page.click('#start');
  await page.waitForFunction(() => (globalThis as unknown as { __run: RunView }).__run.events.some((e) => e.type === 'checkpoint'), undefined, { timeout: 120_000, polling: 100 });
  await page.click('#pause');
  await waitState(page, ['paused']);
  assert.equal(await page.textContent('#pause'), 'Resume');
  await page.waitForTimeout(1000); // snapshots already in flight may still arrive
  const before = (await state(page)).events.length;
  await page.waitForTimeout(2000);
  assert.equal((await state(page)).events.length, before, 'events arrived while paused');
  await page.click('#pause');
  await page.waitForFunction((n) => (globalThis as unknown as { __run: RunView }).__run.events.length > n, before, { timeout: 60_000, polling: 100 });
  assert.equal((await state(page)).state, 'running');
  await page.click('#stop');
  const stopped = await waitState(page, ['stopped', 'done', 'error']);
  assert.equal(stopped.state, 'stopped', stopped.error ?? '');
  assert.match(await status(page), /stopped/);
  const lastCheckpoint = stopped.events.filter((e) => e.type === 'checkpoint').at(-1)!;

  await page.click('#start');
  await page.waitForFunction(() => (globalThis as unknown as { __run: RunView }).__run.events.some((e) => e.type === 'start'), undefined, { timeout: 60_000, polling: 100 });
  const again = await state(page);
  const first = again.events.find((e) => e.type === 'start' && e.run === lastCheckpoint.run);
  const skipped = again.events.filter((e) => e.type === 'done').length;
  console.log(`# stopped after ${lastCheckpoint.run.split('/').at(-1)} iteration ${lastCheckpoint.iteration}; restart: ${skipped} level(s) skipped, ${first?.resumed ? `resumed at ${first.startIteration}` : 'no resume event yet'}`);
  await page.waitForFunction((run) => (globalThis as unknown as { __run: RunView }).__run.events.some((e) => e.type === 'start' && e.run === run), lastCheckpoint.run, { timeout: 60_000, polling: 100 });
  const resumed = (await state(page)).events.find((e) => e.type === 'start' && e.run === lastCheckpoint.run)!;
  assert.deepEqual([resumed.resumed, resumed.startIteration], [true, lastCheckpoint.iteration]);
  await page.click('#stop');
  assert.equal((await waitState(page, ['stopped', 'done', 'error'])).state, 'stopped');
  assert.deepEqual(errors, []);
});

test('a diverging run shows a message and the page stays usable', { timeout: 180_000 }, async () => {
  const { page, errors } = await openTab();
  await fill(page, { ...TINY, extra: '--lr 1e6' });
  await page.click('#start');
  const s = await waitState(page, ['error', 'done', 'stopped']);
  assert.equal(s.state, 'error');
  assert.match(await status(page), /diverged|became (NaN|Infinity)/);
  assert.equal(await page.isEnabled('#start'), true);
  assert.deepEqual(errors, []);
});

test('(e) without WebGPU the page says what to enable instead of going blank', { timeout: 120_000 }, async () => {
  const { page, errors } = await openTab(() => { delete (Navigator.prototype as { gpu?: unknown }).gpu; });
  assert.equal(await page.isVisible('#gpu-message'), true);
  const message = await page.textContent('#gpu-message');
  assert.match(message!, /navigator\.gpu is missing/);
  assert.match(message!, /--enable-unsafe-webgpu/);
  assert.equal(await page.isEnabled('#start'), false);
  assert.ok(await page.isVisible('#run-form'));
  await page.screenshot({ path: join(SHOTS, 'run-no-webgpu.png') });
  assert.deepEqual(errors, []);
});
