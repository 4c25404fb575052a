// Renders the driver's events on the terminal: a one-line progress bar on a TTY, plain lines
// (at most one every few seconds, plus every evaluation) when piped, nothing but the summary
// with --quiet. Always to stderr, so stdout stays clean for results. Step lines carry the run's
// elapsed time and an ETA (from its own pace since its first step line after it started or
// resumed, so pipeline compilation, warm-up and the first evaluation do not count as step
// time), and, for a lottery,
// which level of how many is training. Ctrl-C prints where the run stopped and how to resume.
import type { EventSink, TrainEvent } from '../../src/train/events.ts';

export interface TerminalOptions {
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  /** A lottery's highest level: step lines then say "level L/N". */
  maxLevel?: number;
  /** Clock (tests). */
  now?: () => number;
}

/** "45s", "3m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Where training is, for the Ctrl-C note: the last step seen and the run's last checkpoint. */
interface Position { run: string; iteration: number; total: number; checkpoint: number | null }
let position: Position | null = null;
let interruptNote = false;

/** The line printed on Ctrl-C (exported for tests). */
export function interruptMessage(p: Position | null): string {
  if (!p) return 'interrupted before training started; nothing to resume.';
  const from = p.checkpoint === null
    ? 'no checkpoint of it yet (one is written at every epoch end), so it restarts from its beginning'
    : `its last checkpoint is at iteration ${p.checkpoint}`;
  return `interrupted: ${p.run} at iteration ${p.iteration} of ${p.total}; ${from}. ` +
    'Run the same command again to resume; finished runs are skipped.';
}

export function terminalSink(opts: TerminalOptions = {}): EventSink {
  const out = opts.stream ?? process.stderr;
  const now = opts.now ?? Date.now;
  // Behind runner/earlyphase.mjs's warning filter stderr is a pipe; the wrapper says whether it is a terminal.
  const tty = (!!out.isTTY || (out === process.stderr && process.env.EARLYPHASE_STDERR_TTY === '1')) && !process.env.CI;
  let lastPlain = 0;
  let barShown = false;
  const clearBar = () => { if (barShown) { out.write('\r\x1b[2K'); barShown = false; } };
  const line = (s: string) => { clearBar(); out.write(`${s}\n`); };
  // Each run's clock: wall time when it started (or resumed), for "elapsed"; and the time and
  // iteration of its first step line, from which its pace (and so the ETA) is measured.
  const started = new Map<string, { t: number; pace: { t: number; iteration: number } | null }>();
  if (!interruptNote && !opts.stream) {
    interruptNote = true;
    process.once('SIGINT', () => {
      clearBar();
      out.write(`\n${interruptMessage(position)}\n`);
      process.exit(130);
    });
  }
  const levelOf = (run: string) => {
    const m = /level_(\d+)/.exec(run);
    return m && opts.maxLevel !== undefined ? `level ${m[1]}/${opts.maxLevel} ` : '';
  };
  const timing = (e: Extract<TrainEvent, { type: 'step' }>) => {
    const s = started.get(e.run);
    if (!s) return '';
    const elapsed = (now() - s.t) / 1000;
    s.pace ??= { t: now(), iteration: e.iteration };
    const done = e.iteration - s.pace.iteration;
    const eta = done > 0 ? ` ETA ${formatDuration(((now() - s.pace.t) / 1000 / done) * (e.totalIterations - e.iteration))}` : '';
    return ` ${formatDuration(elapsed)} elapsed${eta}`;
  };
  return (e: TrainEvent) => {
    if (e.type === 'start') {
      started.set(e.run, { t: now(), pace: null });
      position = { run: e.run, iteration: e.startIteration, total: e.totalIterations, checkpoint: e.resumed ? e.startIteration : null };
    } else if (e.type === 'step') {
      position = { run: e.run, iteration: e.iteration, total: e.totalIterations, checkpoint: position?.run === e.run ? position.checkpoint : null };
    } else if ((e.type === 'checkpoint' || e.type === 'eval') && position?.run === e.run) {
      // Step events come at most once a second: an evaluation or checkpoint may be further along.
      position = { ...position, iteration: Math.max(position.iteration, e.iteration), ...(e.type === 'checkpoint' ? { checkpoint: e.iteration } : {}) };
    } else if (e.type === 'done') {
      position = null;
    }
    if (opts.quiet) { if (e.type === 'log') line(`${e.run}: ${e.message}`); return; }
    switch (e.type) {
      case 'start':
        line(`${e.run}: ${levelOf(e.run)}${e.model} on ${e.dataset} (${e.adapter}), ${e.resumed ? `resuming at iteration ${e.startIteration}` : `iterations ${e.startIteration}→${e.totalIterations}`}`);
        break;
      case 'step': {
        const frac = e.iteration / e.totalIterations;
        const msg = `${levelOf(e.run)}it ${e.iteration}/${e.totalIterations} loss ${e.loss.toFixed(4)} acc ${(100 * e.accuracy).toFixed(1)}% lr ${e.lr.toPrecision(3)} ${e.imagesPerSecond.toFixed(0)} img/s${timing(e)}`;
        if (tty) {
          const w = 24, filled = Math.round(frac * w);
          out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(w - filled)}] ${(100 * frac).toFixed(1)}% ${msg}`);
          barShown = true;
        } else if (now() - lastPlain > 5000) {
          lastPlain = now();
          line(`${e.run}: ${msg}`);
        }
        break;
      }
      case 'eval':
        line(`${e.run}: it ${e.iteration} test accuracy ${(100 * e.testAccuracy).toFixed(2)}% loss ${e.testLoss.toFixed(4)} (eval ${e.seconds.toFixed(1)} s, ${e.elapsedSeconds.toFixed(0)} s since start)`);
        break;
      case 'checkpoint':
        break;
      case 'done':
        line(`${e.run}: ${e.skipped ? 'already done' : `done in ${e.seconds.toFixed(1)} s`}; test accuracy ${e.testAccuracy === null ? 'n/a' : (100 * e.testAccuracy).toFixed(2) + '%'}; weights sha256 ${e.weightsHash}`);
        break;
      case 'log':
        line(`${e.run}: ${e.message}`);
        break;
    }
  };
}
