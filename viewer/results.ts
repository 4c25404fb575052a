// The results browser: lists the runs under the view server's root, and draws one of them (or a
// folder of them) with the same collect → figures → summary code as `earlyphase report`, through
// the same chart component. The page itself derives nothing from the metrics. A folder that is
// empty, not a run, or unreadable gets a message, and the page stays usable for the next choice.
// window.__results tells tests when the selected folder is drawn and which figures it has.
import { collectResults } from '../src/report/collect.ts';
import { buildFigures } from '../src/report/figures.ts';
import { formatSummary } from '../src/report/summary.ts';
import { createFigureChart, type FigureChart } from './charts.ts';
import { listFolder } from './results-api.ts';
import { loadResults } from './results-source.ts';
import { findRuns } from './run-list.ts';

interface ResultsState { ready: boolean; figures: string[]; error?: string }

const state: ResultsState = { ready: false, figures: [] };
(globalThis as unknown as { __results: ResultsState }).__results = state;

const $ = (id: string): HTMLElement => document.getElementById(id)!;
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
/** Folder paths as the server takes them: relative to the root, no leading or trailing '/'. */
const normalize = (dir: string): string => dir.replace(/^\/+|\/+$/g, '');
const selectedDir = (): string | null => {
  const dir = new URLSearchParams(location.search).get('dir');
  return dir === null ? null : normalize(dir);
};

let charts: FigureChart[] = [];
/** Bumped on every selection, so a slow answer for an earlier choice cannot draw over a later one. */
let generation = 0;

async function showRunList(): Promise<void> {
  const status = $('runs-status'), list = $('run-list');
  try {
    const runs = await findRuns(listFolder);
    status.textContent = runs.length ? '' : 'no lottery_* or train_* folders under the root yet';
    for (const r of runs) {
      const li = document.createElement('li');
      li.className = `depth-${r.depth}`;
      const a = Object.assign(document.createElement('a'), { href: `results.html?dir=${encodeURIComponent(r.path)}`, textContent: r.name });
      a.className = 'run';
      a.dataset.dir = r.path;
      a.addEventListener('click', (e) => {
        e.preventDefault();
        history.pushState(null, '', a.href);
        void open(r.path);
      });
      li.append(a, Object.assign(document.createElement('span'), { className: 'kind', textContent: r.kind }));
      list.appendChild(li);
    }
    markSelected(selectedDir());
  } catch (e) {
    status.textContent = `cannot list runs: ${message(e)}`;
    status.className = 'error';
  }
}

function markSelected(dir: string | null): void {
  document.querySelectorAll<HTMLAnchorElement>('#run-list a').forEach((a) => a.classList.toggle('selected', a.dataset.dir === dir));
}

function clear(): void {
  for (const c of charts) c.destroy();
  charts = [];
  state.figures = [];
  delete state.error;
  $('missing').replaceChildren();
  $('summary').textContent = '';
}

function fail(text: string): void {
  state.error = text;
  $('status').textContent = text;
  $('status').className = 'error';
}

const isJson = (text: string): boolean => {
  try { JSON.parse(text); return true; } catch { return false; }
};

/** Draws `dir` (a run folder, or a folder holding runs; '' is the root). */
async function draw(dir: string, isCurrent: () => boolean): Promise<void> {
  const name = dir || 'the root';
  $('title').textContent = name;
  $('status').textContent = `loading ${name}…`;
  const { files, source } = await loadResults(dir);
  if (!isCurrent()) return;
  const texts = Object.keys(files).filter((p) => files[p] !== null);
  if (!texts.length) return fail(`${name} holds no result files (.json, .csv, .txt)`);
  const collected = collectResults(source, dir);
  // collectResults reads a torn JSON file as absent; say which file it was (also when nothing else is there).
  const broken = texts.filter((p) => p.endsWith('.json') && !isJson(files[p]!)).map((p) => `${p} is not valid JSON`);
  if (!collected.lotteries.length && !collected.trains.length) {
    $('missing').replaceChildren(...broken.map((m) => Object.assign(document.createElement('li'), { textContent: m })));
    return fail(`${name} is not a run: no lottery_* or train_* folder with replicate_* folders in it`);
  }
  const missing = [...broken, ...collected.missing];
  $('missing').replaceChildren(...missing.map((m) => Object.assign(document.createElement('li'), { textContent: m })));
  $('summary').textContent = formatSummary(collected);
  const figures = buildFigures(collected);
  for (const f of figures) {
    charts.push(createFigureChart($('figures'), f));
    state.figures.push(f.id);
  }
  if (!figures.length) return fail(`${name}: no figure has data yet${missing.length ? ` (${missing.length} files missing or unreadable, listed above)` : ''}`);
  $('status').className = '';
  $('status').textContent = `${figures.length} figures${missing.length ? `; ${missing.length} missing or partial:` : ''}`;
}

async function open(dir: string | null): Promise<void> {
  const mine = ++generation;
  const isCurrent = () => mine === generation;
  state.ready = false;
  clear();
  markSelected(dir);
  $('status').className = '';
  try {
    if (dir === null) {
      $('title').textContent = 'Results';
      $('status').textContent = 'choose a run on the left';
    } else {
      await draw(dir, isCurrent);
    }
  } catch (e) {
    if (isCurrent()) fail(message(e));
  }
  if (!isCurrent()) return;
  // uPlot commits its first draw asynchronously; two frames later every canvas is painted.
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  if (isCurrent()) state.ready = true;
}

addEventListener('popstate', () => void open(selectedDir()));
void showRunList();
void open(selectedDir());
