// The run page's figures, as FigureSpecs (src/report/figures.ts) so viewer/charts.ts draws them
// like the report does. Loss and test accuracy per iteration come live from the driver's events
// and are replaced by the run's metrics.csv whenever a checkpoint writes it (full resolution, and
// right after a resume); accuracy vs weights remaining, telemetry and branch figures are the
// report's own (collectResults + buildFigures over the in-memory run folder).
import type { TrainEvent } from '../src/train/events.ts';
import type { FigureSpec, SeriesSpec } from '../src/report/figures.ts';
import { buildFigures } from '../src/report/figures.ts';
import { collectResults } from '../src/report/collect.ts';
import { parseMetrics } from '../src/train/metrics.ts';
import { resultSource, type MemoryStorage } from './memory-storage.ts';

interface Points { x: number[]; y: number[] }

/** "level 2" for `<root>/level_2`, "level 2 gaussian_noise" for a branch run `<root>/level_2/gaussian_noise`, "pretrain" for `<root>/pretrain`. */
export function runLabel(run: string, root: string): string {
  if (run === `${root}/pretrain`) return 'pretrain';
  const m = /^level_(\d+)(?:\/(.+))?$/.exec(run.slice(root.length + 1));
  return m ? `level ${m[1]}${m[2] ? ` ${m[2]}` : ''}` : run;
}

export class LiveFigures {
  private readonly loss = new Map<string, Points>();
  private readonly accuracy = new Map<string, Points>();
  private report: FigureSpec[] = [];
  /** The longest run's iterations (start and step events say it): the live figures' x axis is 0…T. */
  private iterations = 0;

  /** `root`: the replicate folder the driver writes (lottery_<hash>/replicate_N); `experiment`: its lottery_<hash>. */
  constructor(private readonly storage: MemoryStorage, private readonly root: string, private readonly experiment: string) {}

  /** Folds one driver event in; true when a figure changed. */
  onEvent(e: TrainEvent): boolean {
    const label = runLabel(e.run, this.root);
    if (e.type === 'start' || e.type === 'step') this.iterations = Math.max(this.iterations, e.totalIterations);
    const series = (m: Map<string, Points>) => m.get(label) ?? m.set(label, { x: [], y: [] }).get(label)!;
    switch (e.type) {
      case 'step': push(series(this.loss), e.iteration - 1, e.loss); return true;
      case 'eval': push(series(this.accuracy), e.iteration, 100 * e.testAccuracy); return true;
      case 'checkpoint': case 'done': this.reload(e.run, label); return true;
      default: return false;
    }
  }

  /** Re-reads a run's metrics.csv and the whole experiment's report figures. */
  private reload(run: string, label: string): void {
    const csv = this.metricsFile(run);
    const text = csv && this.storage.text(csv);
    if (text) {
      const rows = parseMetrics(text, csv);
      const pick = (name: string, scale: number) => {
        const r = rows.filter((x) => x.name === name).sort((a, b) => a.iteration - b.iteration);
        return { x: r.map((x) => x.iteration), y: r.map((x) => scale * x.value) };
      };
      this.loss.set(label, pick('train_loss', 1));
      this.accuracy.set(label, pick('test_accuracy', 100));
    }
    this.report = buildFigures(collectResults(resultSource(this.storage), this.experiment))
      .filter((f) => f.group !== 'pretraining' && f.group !== 'instability');
  }

  /** A level writes <run>/main/metrics.csv; a branch `<level>/<name>` writes <level>/branch_<name>_<hash>/metrics.csv. */
  private metricsFile(run: string): string | null {
    const main = `${run}/main/metrics.csv`;
    if (this.storage.files.has(main)) return main;
    const cut = run.lastIndexOf('/');
    const level = run.slice(0, cut), name = run.slice(cut + 1);
    return this.storage.list(level).find((p) => p.startsWith(`${level}/branch_${name}_`) && p.endsWith('/metrics.csv')) ?? null;
  }

  figures(): FigureSpec[] {
    const perRun = (m: Map<string, Points>): SeriesSpec[] => [...m].map(([name, p]) => ({ name, x: p.x, y: p.y }));
    const x = { label: 'iteration', log: false, ...(this.iterations > 0 ? { span: [0, this.iterations] as [number, number] } : {}) };
    const live: FigureSpec[] = [
      { id: 'live_loss', group: 'telemetry', title: 'Training loss (per minibatch)', x, y: { label: 'loss', log: false }, series: perRun(this.loss) },
      { id: 'live_accuracy', group: 'accuracy', title: 'Test accuracy during training', x, y: { label: 'test accuracy (%)', log: false }, series: perRun(this.accuracy) },
    ];
    return [...live, ...this.report].map((f) => ({ ...f, series: f.series.filter((s) => s.x.length > 0) })).filter((f) => f.series.length > 0);
  }
}

/** Appends a point unless it repeats the last iteration (an event after the CSV already has it). */
function push(p: Points, x: number, y: number): void {
  if (p.x.length && p.x[p.x.length - 1]! >= x) return;
  p.x.push(x); p.y.push(y);
}
