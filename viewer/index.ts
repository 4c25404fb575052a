// The run-in-tab page: a lottery experiment (IMP with rewinding, then an optional branch) run by
// the same src/ driver as `earlyphase lottery`, with the browser's adapters: navigator.gpu,
// in-memory run storage, dataset files fetched from the view server. Live charts, the first
// layer's masks per level, pause/stop, and saving in the CLI's run-folder format.
// window.__run exposes the page's state for the Playwright tests.
import shaders from 'earlyphase:shaders';
import type { Gpu } from '../src/gpu/gpu.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import type { TrainEvent } from '../src/train/events.ts';
import { UserError } from '../src/errors.ts';
import { RunControl, RunStoppedError } from '../src/train/control.ts';
import { DEFAULT_TELEMETRY } from '../src/train/telemetry.ts';
import { levelDir, planLottery, runLottery, type LotteryJob, type LotteryPlan } from '../src/lottery/lottery.ts';
import { createFigureChart, type FigureChart } from './charts.ts';
import { openBrowserGpu } from './gpu.ts';
import { fetchInfo, loadBrowserDataset, TAB_DATASETS, type ServerInfo } from './browser-data.ts';
import { MemoryStorage } from './memory-storage.ts';
import { LiveFigures } from './live-figures.ts';
import { commandLine, parseRunForm, type RunConfig, type RunFormValues } from './run-form.ts';
import { PRETRAIN_TASKS } from '../src/lottery/pretrain-tasks.ts';
import { readBranchOptions, renderBranchOptions } from './branch-options.ts';
import { allBranchNames, branchOptionSpecs, runBranch } from '../src/lottery/branch.ts';
import { drawMask, firstLayerMask } from './mask-view.ts';
import { downloadArchive, saveToServer } from './save.ts';

type RunState = 'idle' | 'running' | 'paused' | 'stopped' | 'done' | 'error';
interface LevelRow { level: number; remaining: number; testAccuracy: number | null }
interface RunView {
  state: RunState; events: TrainEvent[]; levels: LevelRow[]; error: string | null; adapter: string | null;
  /** The lottery_<hash> folder of the current run, and the CLI flags that name it. */
  folder: string | null; argv: string[]; storage: MemoryStorage;
  /** Points drawn per chart (figure id → count), updated at each redraw. */
  charts: Record<string, number>;
  text(path: string): string | null;
}

const storage = new MemoryStorage();
const run: RunView = { state: 'idle', events: [], levels: [], error: null, adapter: null, folder: null, argv: [], storage, charts: {}, text: (p) => storage.text(p) };
(globalThis as unknown as { __run: RunView }).__run = run;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('run-form');
const status = $('status');
const buttons = { start: $<HTMLButtonElement>('start'), pause: $<HTMLButtonElement>('pause'), stop: $<HTMLButtonElement>('stop'), save: $<HTMLButtonElement>('save'), download: $<HTMLButtonElement>('download') };

function show(message: string, error = false): void {
  status.textContent = message;
  status.className = error ? 'error' : '';
}

function fail(e: unknown): void {
  const message = e instanceof UserError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  run.error = message;
  show(message, true);
}
addEventListener('error', (e) => fail(e.error ?? e.message));
addEventListener('unhandledrejection', (e) => fail(e.reason));

function setState(s: RunState): void {
  run.state = s;
  const active = s === 'running' || s === 'paused';
  buttons.start.disabled = active || gpu === null;
  buttons.pause.disabled = !active;
  buttons.pause.textContent = s === 'paused' ? 'Resume' : 'Pause';
  buttons.stop.disabled = !active;
  buttons.save.disabled = active || !run.folder || !info?.write;
  buttons.download.disabled = active || !run.folder;
}

// --- adapters: GPU, server info, datasets ---------------------------------------------------

let gpu: Gpu | null = null;
let info: ServerInfo | null = null;
const datasets = new Map<string, Promise<DatasetSplits>>();

async function init(): Promise<void> {
  const branch = form.elements.namedItem('branch') as HTMLSelectElement;
  for (const n of allBranchNames()) branch.add(new Option(n, n));
  branch.addEventListener('change', showBranchOptions);
  const task = form.elements.namedItem('pretrainTask') as HTMLSelectElement;
  for (const [k, t] of Object.entries(PRETRAIN_TASKS)) task.add(new Option(t.label, k));
  field('pretrain').addEventListener('change', showPretrain);
  field('model').addEventListener('change', showModelNote);
  showBranchOptions();
  showPretrain();
  showModelNote();
  setState('idle');
  const [g, i] = await Promise.allSettled([openBrowserGpu(shaders), fetchInfo()]);
  if (g.status === 'rejected') {
    const box = $('gpu-message');
    box.textContent = `WebGPU is not available, so nothing can run in this tab: ${(g.reason as Error)?.message ?? g.reason}`;
    box.hidden = false;
  } else {
    gpu = g.value;
    run.adapter = `${gpu.adapter.vendor} ${gpu.adapter.description || gpu.adapter.architecture} (${gpu.adapter.shortName})`.trim();
  }
  if (i.status === 'fulfilled') {
    info = i.value;
    const select = form.elements.namedItem('dataset') as HTMLSelectElement;
    for (const name of TAB_DATASETS) {
      const d = info.datasets[name];
      const o = new Option(d?.available ? name : `${name} (not available)`, name);
      select.add(o);
    }
  } else fail(i.reason);
  setState('idle');
  if (gpu && info) show(`ready — adapter: ${run.adapter}`);
  else if (!gpu && info) show('WebGPU is not available (see the message above); nothing can run in this tab.', true);
}

const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;

/** The picked branch's options (retrain: its --retrain-<hparam> flags instead). */
function showBranchOptions(): void {
  const name = field('branch').value;
  $('branch-fieldset').hidden = !name;
  $('retrain-flags').hidden = name !== 'retrain';
  $('branch-options').hidden = !name || name === 'retrain';
  if (name) renderBranchOptions($('branch-options'), name, branchOptionSpecs(name));
}

/** Pre-training's inputs follow its checkbox; the rewind point is off while it is on (the CLI refuses both). */
function showPretrain(): void {
  const on = field('pretrain').checked;
  for (const n of ['pretrainTask', 'pretrainSteps', 'pretrainCounts']) field(n).disabled = !on;
  field('rewindingSteps').disabled = on;
  $('rewind-note').hidden = !on;
}

/** Conv-2's note (its Adam preset, its cost on CPU adapters) shows only while Conv-2 is picked. */
function showModelNote(): void {
  $('conv2-note').hidden = field('model').value !== 'cifar_conv_2';
}

function dataset(name: string): Promise<DatasetSplits> {
  let d = datasets.get(name);
  if (!d) {
    d = loadBrowserDataset(name, info!);
    datasets.set(name, d);
    d.catch(() => datasets.delete(name)); // a later Start tries again (e.g. after setup.sh)
  }
  return d;
}

// --- charts and masks ------------------------------------------------------------------------

const charts = new Map<string, FigureChart>();
let figures: LiveFigures | null = null;
let redrawTimer: ReturnType<typeof setTimeout> | null = null;
const REDRAW_MS = 250; // ≤ 4 redraws a second whatever the event rate

function redrawSoon(): void {
  redrawTimer ??= setTimeout(redraw, REDRAW_MS);
}

function redraw(): void {
  if (redrawTimer) clearTimeout(redrawTimer);
  redrawTimer = null;
  if (!figures) return;
  for (const f of figures.figures()) {
    const c = charts.get(f.id);
    if (c) c.update(f);
    else charts.set(f.id, createFigureChart($('figures'), f, { width: 560, height: 300 }));
    run.charts[f.id] = f.series.reduce((a, s) => a + s.x.length, 0);
  }
}

function resetView(): void {
  for (const c of charts.values()) c.destroy();
  charts.clear();
  $('mask-list').replaceChildren();
  $('levels').querySelector('tbody')!.replaceChildren();
  run.events = []; run.levels = []; run.error = null; run.charts = {};
}

function drawLevelMask(level: number, dir: string, image: [number, number]): void {
  const path = `${dir}/mask.safetensors`;
  const bytes = storage.files.get(path);
  if (!bytes || document.getElementById(`mask-${level}`)) return;
  const layer = firstLayerMask(bytes, path);
  const section = $('masks');
  section.hidden = false;
  if (!layer) return;
  const box = Object.assign(document.createElement('div'), { className: 'mask', id: `mask-${level}` });
  const canvas = document.createElement('canvas');
  const kept = drawMask(canvas, layer.tensor, image);
  if (kept === null) {
    $('mask-note').textContent = `${layer.name} has shape ${layer.tensor.shape.join('×')}, which has no picture form; masks are not drawn.`;
    return;
  }
  $('mask-note').textContent = layer.tensor.shape.length === 4
    ? `${layer.name}: one tile per filter and input channel (${layer.tensor.shape.slice(2).join('×')} kernel, magnified).`
    : `${layer.name}: one ${image.join('×')} tile per unit, showing which input pixels it still reads.`;
  box.append(canvas, `level ${level}: ${(100 * kept).toFixed(1)}% of ${layer.name} kept`);
  $('mask-list').appendChild(box);
}

function addLevelRow(r: LevelRow): void {
  run.levels.push(r);
  const table = $('levels');
  table.hidden = false;
  const tr = document.createElement('tr');
  for (const t of [String(r.level), `${(100 * r.remaining).toFixed(2)}%`, r.testAccuracy === null ? 'n/a' : `${(100 * r.testAccuracy).toFixed(2)}%`]) {
    tr.appendChild(Object.assign(document.createElement('td'), { textContent: t }));
  }
  table.querySelector('tbody')!.appendChild(tr);
}

// --- running ---------------------------------------------------------------------------------

let control: RunControl | null = null;

function formValues(): RunFormValues {
  const v = (n: string) => field(n).value;
  return {
    model: v('model'), dataset: v('dataset'), trainingSteps: v('trainingSteps'), subsample: v('subsample'), rewindingSteps: v('rewindingSteps'),
    levels: v('levels'), pruningFraction: v('pruningFraction'), branch: v('branch'), replicate: v('replicate'), extra: v('extra'),
    branchOptions: v('branch') ? readBranchOptions($('branch-options')) : {}, retrainFlags: v('retrainFlags'),
    pretrain: field('pretrain').checked ? { task: v('pretrainTask'), trainingSteps: v('pretrainSteps'), countsAgainstBudget: field('pretrainCounts').checked } : null,
    telemetry: field('telemetry').checked,
    evaluateOnlyAtEnd: field('evaluateOnlyAtEnd').checked,
    apexFp16: field('apexFp16').checked,
  };
}

async function start(): Promise<void> {
  if (!gpu || !info || run.state === 'running' || run.state === 'paused') return;
  const g = gpu;
  const values = formValues();
  run.error = null;
  show(`loading ${values.dataset}…`);
  let data: DatasetSplits, pretrainData: DatasetSplits | undefined, config: RunConfig, job: LotteryJob, plan: LotteryPlan;
  try {
    data = await dataset(values.dataset);
    config = parseRunForm(values, data.train.count);
    const pre = config.lottery.pretrain?.hparams.dataset.dataset_name; // --pretrain-dataset-name in "more flags"
    pretrainData = pre && pre !== values.dataset ? await dataset(pre) : undefined;
    job = {
      hparams: config.hparams, lottery: config.lottery, replicate: config.replicate, maxLevel: Math.max(...config.levels),
      telemetry: config.telemetry ? DEFAULT_TELEMETRY : undefined, evaluateOnlyAtEnd: config.evaluateOnlyAtEnd, control: new RunControl(),
    };
    plan = planLottery(job, data, pretrainData); // k, levels and the model's fit to the images are checked before anything runs
  } catch (e) {
    fail(e);
    return;
  }
  control = job.control!;
  resetView();
  run.folder = plan.root.split('/')[0]!;
  run.argv = config.argv;
  figures = new LiveFigures(storage, plan.root, run.folder);
  $('command').textContent = commandLine(config);
  $('command').hidden = false;
  const image: [number, number] = [data.train.height, data.train.width];
  const sink = (e: TrainEvent) => {
    run.events.push(e);
    if (figures!.onEvent(e)) redrawSoon();
    const level = /\/level_(\d+)$/.exec(e.run);
    if (e.type === 'start') {
      show(`${e.run.slice(run.folder!.length + 1)}: ${e.resumed ? `resuming at iteration ${e.startIteration}` : 'training'} on ${e.adapter}`);
      if (level && Number(level[1]) > 0) drawLevelMask(Number(level[1]), levelDir(plan, Number(level[1])), image);
    } else if (e.type === 'step' && run.state === 'running') {
      show(`${e.run.slice(run.folder!.length + 1)}: iteration ${e.iteration} of ${e.totalIterations}, loss ${e.loss.toFixed(4)}${e.imagesPerSecond > 0 ? `, ${Math.round(e.imagesPerSecond)} images/s` : ''}`);
    } else if (e.type === 'done' && level) {
      const l = Number(level[1]);
      const report = l === 0 ? null : storage.text(`${levelDir(plan, l)}/sparsity_report.json`);
      const sparsity = report ? JSON.parse(report) as { unpruned: number; total: number } : null;
      addLevelRow({ level: l, remaining: sparsity ? sparsity.unpruned / sparsity.total : 1, testAccuracy: e.testAccuracy });
    } else if (e.type === 'log') {
      show(`${e.run}: ${e.message}`);
    }
  };
  setState('running');
  let outcome: unknown = null;
  try {
    const env = { gpu: g, storage, sink, data, pretrainData };
    await runLottery(env, job);
    const b = config.branch;
    if (b) await runBranch(env, { ...job, branch: b.name, options: b.options, retrain: b.retrain, seed: b.seed, levels: config.levels });
  } catch (e) {
    outcome = e;
  }
  control = null;
  redraw(); // the final state is drawn before the page says it is done
  if (outcome === null) {
    setState('done');
    show(`done: ${run.levels.length} levels${config.branch ? ` and branch ${config.branch.name}` : ''} on ${run.adapter}`);
  } else if (outcome instanceof RunStoppedError) {
    setState('stopped');
    show(`stopped. ${outcome.message}`);
  } else {
    setState('error');
    fail(outcome);
  }
}

form.addEventListener('submit', (e) => { e.preventDefault(); void start(); });
buttons.pause.addEventListener('click', () => {
  if (!control) return;
  if (control.paused) { control.resume(); setState('running'); show('resumed'); } else { control.pause(); setState('paused'); show('paused (after the current step)'); }
});
buttons.stop.addEventListener('click', () => { control?.stop(); show('stopping after the current step…'); });
buttons.save.addEventListener('click', () => {
  const folder = run.folder!;
  show(`saving ${folder} to the server…`);
  saveToServer(storage, folder).then((n) => show(`saved ${n} files to ${info!.root}/${folder}`), fail);
});
buttons.download.addEventListener('click', () => { try { downloadArchive(storage, run.folder!); } catch (e) { fail(e); } });

init().catch(fail);
