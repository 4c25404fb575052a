// Runs src/check/suite.ts — the same case table as the Node tests — in the browser and shows
// one row per case. Results are also left on window.__kernelSuite for the Playwright test.
import shaders from 'earlyphase:shaders';
import { kernelSuite } from '../src/check/suite.ts';
import { describe as describeComparison } from '../src/check/compare.ts';
import { openBrowserGpu } from './gpu.ts';

interface CaseResult { family: string; name: string; ok: boolean; details: string }
interface SuiteReport { adapter: string; results: CaseResult[]; done: boolean; error?: string }
const report: SuiteReport = { adapter: '', results: [], done: false };
(globalThis as unknown as { __kernelSuite: SuiteReport }).__kernelSuite = report;

const status = document.getElementById('status')!;
const rows = document.getElementById('rows')!;

function addRow(r: CaseResult): void {
  const tr = document.createElement('tr');
  for (const text of [r.family, r.name]) tr.appendChild(Object.assign(document.createElement('td'), { textContent: text }));
  const td = document.createElement('td');
  td.className = r.ok ? 'ok' : 'fail';
  td.appendChild(Object.assign(document.createElement(r.ok ? 'span' : 'pre'), { textContent: r.ok ? 'ok' : r.details }));
  tr.appendChild(td);
  rows.appendChild(tr);
}

async function main(): Promise<void> {
  const filter = new URLSearchParams(location.search).get('filter');
  const cases = filter ? kernelSuite.filter((c) => `${c.family}: ${c.name}`.includes(filter)) : kernelSuite;
  const gpu = await openBrowserGpu(shaders);
  report.adapter = `${gpu.adapter.vendor} ${gpu.adapter.description || gpu.adapter.architecture} (${gpu.adapter.shortName})`;
  try {
    for (const [i, c] of cases.entries()) {
      status.textContent = `${report.adapter}: case ${i + 1} of ${cases.length} — ${c.family}: ${c.name}`;
      let r: CaseResult;
      try {
        const comparisons = await c.run(gpu);
        const bad = comparisons.filter((x) => !x.ok);
        r = { family: c.family, name: c.name, ok: comparisons.length > 0 && bad.length === 0, details: bad.map(describeComparison).join('\n') };
      } catch (e) {
        r = { family: c.family, name: c.name, ok: false, details: String((e as Error)?.stack ?? e) };
      }
      report.results.push(r);
      addRow(r);
    }
  } finally {
    gpu.destroy();
  }
  const failed = report.results.filter((r) => !r.ok).length;
  status.textContent = `${report.adapter}: ${report.results.length - failed} passed, ${failed} failed`;
}

main().catch((e) => {
  report.error = String((e as Error)?.message ?? e);
  status.textContent = report.error;
  status.className = 'error';
}).finally(() => { report.done = true; });
