// `earlyphase report <folder>`: collects the runs under <folder> (a runs root, or one train_* /
// lottery_* folder), writes one self-contained HTML page (uPlot charts, data and script inline, so
// it opens offline), screenshots each chart of that same page in headless Chromium to
// <out>/<figure>.png, and prints a text summary. Every file is checked against its .sha256
// sidecar first: a report must not print a number from a file edited or damaged after it was
// written (docs/run-folders.md, "Sidecar policy"), so such a file counts as missing, with the reason.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { resultRows, resultsCsv } from '../../src/report/tables.ts';
import { checksumPath, parseSidecar, sha256Hex } from '../storage/atomic-write.ts';
import { collectResults, type ResultSource } from '../../src/report/collect.ts';
import { buildFigures, type FigureSpec } from '../../src/report/figures.ts';
import { formatSummary } from '../../src/report/summary.ts';
import type { ReportData } from '../../viewer/report.ts';
import { buildViewer } from '../view-server/viewer-build.ts';
import { launchChromium } from '../host/chromium.ts';

export interface ReportOptions {
  folder: string;
  /** Output folder (default <folder>/report). */
  out?: string;
  /** Accepted like every command's global --adapter; a report draws with Chromium's 2-D canvas and needs no WebGPU adapter. */
  adapter?: string;
}

export interface ReportResult { html: string; pngs: string[]; summary: string }

/**
 * The file system as a ResultSource rooted at `root`. A file without a matching, well-formed
 * .sha256 sidecar reads as absent, and `problems` gets a line naming it and what to do.
 */
export function fsSource(root: string, problems: string[] = []): ResultSource {
  return {
    list: (dir) => { try { return readdirSync(join(root, dir)); } catch { return []; } },
    read: (path) => {
      let bytes: Buffer;
      try { bytes = readFileSync(join(root, path)); } catch { return null; }
      let sidecar: string | null = null;
      try { sidecar = readFileSync(checksumPath(join(root, path)), 'utf8'); } catch { /* absent */ }
      const expected = sidecar === null ? null : parseSidecar(sidecar, basename(path));
      if (expected === sha256Hex(bytes)) return bytes.toString('utf8');
      problems.push(`${path} is not used: ${expected === null ? `its .sha256 checksum file is ${sidecar === null ? 'missing' : 'malformed'}` : 'its SHA-256 does not match its .sha256'}; rerun the command that wrote it to recompute it`);
      return null;
    },
  };
}

const EXPERIMENT = /^(train|lottery)_[0-9a-f]+$/;

/**
 * The folder to report on, from any path the CLI prints: a runs root, a train_… or lottery_…
 * folder, or anything inside one (…/replicate_1/main, a level, a branch) — the latter report their
 * whole train_… or lottery_… folder. A path that is neither inside an experiment nor holds one is a
 * UserError, so a report is never written into some unrelated folder (e.g. the sources).
 */
export function reportFolder(path: string): { folder: string; experiment: boolean } {
  const abs = resolve(path);
  let st;
  try { st = statSync(abs); } catch { throw new UserError(`report: ${path} does not exist; give a runs root (e.g. runs) or a run folder the CLI printed`); }
  if (!st.isDirectory()) throw new UserError(`report: ${path} is a file; give a runs root (e.g. runs) or a run folder the CLI printed`);
  for (let p = abs; dirname(p) !== p; p = dirname(p)) {
    if (EXPERIMENT.test(basename(p))) return { folder: p, experiment: true };
  }
  if (!fsSource(abs).list('').some((n) => EXPERIMENT.test(n))) {
    throw new UserError(`report: ${path} holds no train_* or lottery_* run folders; give a runs root (e.g. runs) or a run folder the CLI printed`);
  }
  return { folder: abs, experiment: false };
}

/** Makes the output folder; a file in the way or a folder that cannot be made is one line naming --out. */
function makeOut(out: string, given: boolean): void {
  const what = given ? `--out ${out}` : `the report folder ${out}`;
  if (existsSync(out) && !statSync(out).isDirectory()) throw new UserError(`${what} is a file; give a folder for report.html, the PNGs, summary.txt and results.csv/json`);
  try { mkdirSync(out, { recursive: true }); } catch (e) {
    throw new UserError(`${what}: cannot make the folder (${(e as NodeJS.ErrnoException).code}); give a folder you can write with --out`);
  }
}

export async function runReport(o: ReportOptions): Promise<ReportResult> {
  const { folder } = reportFolder(o.folder);
  const problems: string[] = [];
  const collected = collectResults(fsSource(dirname(folder), problems), basename(folder));
  collected.missing.push(...new Set(problems));
  const figures = buildFigures(collected);
  const summary = formatSummary(collected);
  // Default: beside the runs, in <runs root or experiment>/report — never the folder the command ran in.
  const out = resolve(o.out ?? join(folder, 'report'));
  makeOut(out, o.out !== undefined);
  if (folder !== resolve(o.folder)) console.error(`report: ${o.folder} is inside ${folder}; reporting all of it`);
  const html = await renderPage({ title: `earlyphase report — ${folder}`, summary, figures });
  const htmlPath = join(out, 'report.html');
  writeFileSync(htmlPath, html);
  writeFileSync(join(out, 'summary.txt'), summary + '\n');
  // The same numbers for other tools: one row per run (trunk levels, branches, train runs).
  const rows = resultRows(collected);
  writeFileSync(join(out, 'results.csv'), resultsCsv(rows));
  writeFileSync(join(out, 'results.json'), JSON.stringify({ folder, rows, missing: collected.missing }, null, 2) + '\n');
  console.log(summary);
  const pngs = await screenshot(html, figures, out);
  console.log(`\nreport: ${htmlPath} and ${pngs.length} PNG${pngs.length === 1 ? '' : 's'} in ${out}`);
  return { html: htmlPath, pngs, summary };
}

/** viewer/report.html with its stylesheet, data and bundled script written inline. */
async function renderPage(data: ReportData): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'earlyphase-report-'));
  try {
    await buildViewer(dir);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    // A literal "</script" inside inline code or JSON would end the element early; JSON gets '<' as \u003c.
    const js = read('report.js').replace(/\n\/\/# sourceMappingURL=.*$/m, '').replace(/<\/script/gi, '<\\/script');
    const json = JSON.stringify(data).replace(/</g, '\\u003c');
    // Function replacers: the inserted text may contain '$', which a replacement string would interpret.
    return read('report.html')
      .replace('<link rel="stylesheet" href="report.css">', () => `<style>\n${read('report.css')}\n</style>`)
      .replace('<script type="application/json" id="report-data">null</script>', () => `<script type="application/json" id="report-data">${json}</script>`)
      .replace('<script type="module" src="report.js"></script>', () => `<script type="module">\n${js}\n</script>`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each chart element of the page, rendered in headless Chromium, to <out>/<figure id>.png. */
async function screenshot(html: string, figures: readonly FigureSpec[], out: string): Promise<string[]> {
  if (!figures.length) return [];
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
    await page.setContent(html, { waitUntil: 'load' });
    await page.waitForFunction(() => (globalThis as any).__report?.ready === true, undefined, { timeout: 60_000 });
    const err = await page.evaluate(() => (globalThis as any).__report.error as string | undefined);
    if (err) throw new Error(`report page failed: ${err}`);
    const pngs: string[] = [];
    for (const f of figures) {
      const path = join(out, `${f.id}.png`);
      await page.locator(`#fig-${f.id}`).screenshot({ path });
      pngs.push(path);
    }
    return pngs;
  } finally {
    await browser.close();
  }
}
