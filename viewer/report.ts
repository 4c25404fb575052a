// The report page: draws the figure specifications embedded in #report-data with uPlot. The same
// page is what `earlyphase report` screenshots into PNGs, so the HTML and the images never differ.
// window.__report tells the screenshotter (and tests) when every chart is drawn.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { FigureSpec, SeriesSpec } from '../src/report/figures.ts';

export interface ReportData { title: string; summary: string; figures: FigureSpec[] }
interface ReportState { ready: boolean; figures: string[]; error?: string }

const state: ReportState = { ready: false, figures: [] };
(globalThis as unknown as { __report: ReportState }).__report = state;

const PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#1b7c83', '#bf3989', '#6e7781', '#9a6700', '#0550ae'];
const WIDTH = 760, HEIGHT = 380;

function rgba(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** One uPlot table per spec series ([x, y, lo?, hi?]) joined on a shared x axis, as uPlot needs. */
function chartData(series: readonly SeriesSpec[]): uPlot.AlignedData {
  return uPlot.join(series.map((s) => [s.x, s.y, ...(s.lo && s.hi ? [s.lo, s.hi] : [])] as uPlot.AlignedData));
}

function drawFigure(f: FigureSpec, parent: HTMLElement): void {
  const section = document.createElement('section');
  section.className = 'figure';
  section.id = `fig-${f.id}`;
  section.appendChild(Object.assign(document.createElement('h2'), { textContent: f.title }));
  parent.appendChild(section);
  // Sparse series (accuracy per level) need visible points; dense telemetry curves do not.
  const dense = f.series.some((s) => s.x.length > 40);
  const series: uPlot.Series[] = [{ label: f.x.label }];
  const bands: uPlot.Band[] = [];
  f.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    series.push({ label: s.name, stroke: color, width: 2, spanGaps: true, points: { show: !dense, size: 8, fill: color } });
    if (s.lo && s.hi) {
      const lo = series.length;
      for (const which of ['min', 'max']) {
        series.push({ label: `${s.name} ${which}`, stroke: rgba(color, 0.5), width: 1, dash: [4, 4], spanGaps: true, points: { show: false } });
      }
      bands.push({ series: [lo + 1, lo], fill: rgba(color, 0.15) });
    }
  });
  const opts: uPlot.Options = {
    width: WIDTH, height: HEIGHT, series, bands,
    legend: { live: false },
    scales: { x: { time: false, ...(f.x.log ? { distr: 3 as const, log: 10 as const } : {}), ...(f.x.reverse ? { dir: -1 as const } : {}) } },
    axes: [{ label: f.x.label, stroke: '#1f2328', grid: { stroke: '#eaeef2' }, ...(f.x.integer ? { incrs: [1, 2, 5, 10, 20, 50] } : {}) }, { label: f.y.label, stroke: '#1f2328', grid: { stroke: '#eaeef2' }, size: 60 }],
  };
  new uPlot(opts, chartData(f.series), section);
  state.figures.push(f.id);
}

async function main(): Promise<void> {
  const status = document.getElementById('status')!;
  const data = JSON.parse(document.getElementById('report-data')!.textContent ?? 'null') as ReportData | null;
  if (!data) {
    status.textContent = 'no data: open a page written by `earlyphase report <folder>`';
  } else {
    document.title = data.title;
    document.getElementById('summary')!.textContent = data.summary;
    const parent = document.getElementById('figures')!;
    for (const f of data.figures) drawFigure(f, parent);
    status.textContent = data.figures.length ? `${data.figures.length} figures` : 'no figure has data yet (see the summary)';
  }
  // uPlot commits its first draw asynchronously; two frames later every canvas is painted.
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  state.ready = true;
}

main().catch((e: unknown) => {
  state.error = e instanceof Error ? e.stack ?? e.message : String(e);
  state.ready = true;
  const status = document.getElementById('status')!;
  status.textContent = state.error;
  status.className = 'error';
});
