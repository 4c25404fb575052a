// The report page: draws the figure specifications embedded in #report-data (viewer/charts.ts). The same
// page is what `earlyphase report` screenshots into PNGs, so the HTML and the images never differ.
// window.__report tells the screenshotter (and tests) when every chart is drawn.
import type { FigureSpec } from '../src/report/figures.ts';
import { createFigureChart } from './charts.ts';

export interface ReportData { title: string; summary: string; figures: FigureSpec[] }
interface ReportState { ready: boolean; figures: string[]; error?: string }

const state: ReportState = { ready: false, figures: [] };
(globalThis as unknown as { __report: ReportState }).__report = state;

async function main(): Promise<void> {
  const status = document.getElementById('status')!;
  const data = JSON.parse(document.getElementById('report-data')!.textContent ?? 'null') as ReportData | null;
  if (!data) {
    status.textContent = 'no data: open a page written by `earlyphase report <folder>`';
  } else {
    document.title = data.title;
    document.getElementById('summary')!.textContent = data.summary;
    const parent = document.getElementById('figures')!;
    for (const f of data.figures) {
      createFigureChart(parent, f);
      state.figures.push(f.id);
    }
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
