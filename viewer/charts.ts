// One figure specification (src/report/figures.ts) drawn as a titled uPlot chart. The report page,
// the results browser and the live run page all draw through this, so a figure looks the same
// wherever it appears and the report's PNGs show what the pages show.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './charts.css';
import type { FigureSpec, SeriesSpec } from '../src/report/figures.ts';

export interface FigureChart {
  /** The figure's <section> (title + chart), id `fig-<figure id>`. */
  element: HTMLElement;
  /** Redraws with new data; rebuilds the chart when the series, axes or point style change. */
  update(spec: FigureSpec): void;
  destroy(): void;
}

export interface FigureChartOptions { width?: number; height?: number }

const PALETTE = ['#0969da', '#cf222e', '#1a7f37', '#8250df', '#bc4c00', '#1b7c83', '#bf3989', '#6e7781', '#9a6700', '#0550ae'];
/** Sparse series (accuracy per level) need visible points; dense curves (telemetry) do not. */
const DENSE_POINTS = 40;

function rgba(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

const isDense = (f: FigureSpec): boolean => f.series.some((s) => s.x.length > DENSE_POINTS);

/** What fixes the uPlot options; data that keeps this can be swapped in with setData. */
function layoutKey(f: FigureSpec): string {
  return JSON.stringify([f.x, f.y, isDense(f), f.series.map((s) => [s.name, Boolean(s.lo && s.hi)])]);
}

/** One uPlot table per spec series ([x, y, lo?, hi?]) joined on a shared x axis, as uPlot needs. */
function chartData(series: readonly SeriesSpec[]): uPlot.AlignedData {
  return uPlot.join(series.map((s) => [s.x, s.y, ...(s.lo && s.hi ? [s.lo, s.hi] : [])] as uPlot.AlignedData));
}

function chartOptions(f: FigureSpec, width: number, height: number): uPlot.Options {
  const dense = isDense(f);
  const series: uPlot.Series[] = [{ label: f.x.label }];
  const bands: uPlot.Band[] = [];
  f.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    series.push({ label: s.name, stroke: color, width: 2, spanGaps: true, points: { show: !dense, size: 8, fill: color } });
    if (s.lo && s.hi) {
      const lo = series.length;
      for (const which of ['min', 'max']) {
        series.push({ label: `${s.name} ${which}`, class: 'band-edge', stroke: rgba(color, 0.5), width: 1, dash: [4, 4], spanGaps: true, points: { show: false } });
      }
      bands.push({ series: [lo + 1, lo], fill: rgba(color, 0.15) });
    }
  });
  return {
    width, height, series, bands,
    legend: { live: false },
    scales: {
      x: {
        time: false, ...(f.x.log ? { distr: 3 as const, log: 10 as const } : {}), ...(f.x.reverse ? { dir: -1 as const } : {}),
        // uPlot pads a one-point range on both sides (an axis past the end of the run); a span is exact.
        ...(f.x.span ? { range: f.x.span } : {}),
      },
    },
    axes: [
      { label: f.x.label, stroke: '#1f2328', grid: { stroke: '#eaeef2' }, ...(f.x.integer ? { incrs: [1, 2, 5, 10, 20, 50] } : {}) },
      { label: f.y.label, stroke: '#1f2328', grid: { stroke: '#eaeef2' }, size: 60 },
    ],
  };
}

export function createFigureChart(parent: HTMLElement, spec: FigureSpec, opts: FigureChartOptions = {}): FigureChart {
  const width = opts.width ?? 760, height = opts.height ?? 380;
  const element = document.createElement('section');
  element.className = 'figure';
  element.id = `fig-${spec.id}`;
  const title = document.createElement('h2');
  title.style.maxWidth = `${width}px`;
  element.appendChild(title);
  parent.appendChild(element);
  let plot: uPlot | null = null, key = '';
  const update = (f: FigureSpec): void => {
    title.textContent = f.title;
    const next = layoutKey(f);
    if (plot && next === key) {
      plot.setData(chartData(f.series));
      return;
    }
    plot?.destroy();
    plot = new uPlot(chartOptions(f, width, height), chartData(f.series), element);
    key = next;
  };
  update(spec);
  return {
    element,
    update,
    destroy: () => { plot?.destroy(); plot = null; element.remove(); },
  };
}
