// Renders the driver's events on the terminal: a one-line progress bar on a TTY, plain lines
// (at most one every few seconds, plus every evaluation) when piped, nothing but the summary
// with --quiet. Always to stderr, so stdout stays clean for results.
import type { EventSink, TrainEvent } from '../src/train/events.ts';

export function terminalSink(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): EventSink {
  const out = opts.stream ?? process.stderr;
  // Behind runner/earlyphase.mjs's warning filter stderr is a pipe; the wrapper says whether it is a terminal.
  const tty = (!!out.isTTY || (out === process.stderr && process.env.EARLYPHASE_STDERR_TTY === '1')) && !process.env.CI;
  let lastPlain = 0;
  let barShown = false;
  const clearBar = () => { if (barShown) { out.write('\r\x1b[2K'); barShown = false; } };
  const line = (s: string) => { clearBar(); out.write(`${s}\n`); };
  return (e: TrainEvent) => {
    if (opts.quiet) { if (e.type === 'log') line(`${e.run}: ${e.message}`); return; }
    switch (e.type) {
      case 'start':
        line(`${e.run}: ${e.model} on ${e.dataset} (${e.adapter}), ${e.resumed ? `resuming at iteration ${e.startIteration}` : `iterations ${e.startIteration}→${e.totalIterations}`}`);
        break;
      case 'step': {
        const frac = e.iteration / e.totalIterations;
        const msg = `it ${e.iteration}/${e.totalIterations} loss ${e.loss.toFixed(4)} acc ${(100 * e.accuracy).toFixed(1)}% lr ${e.lr.toPrecision(3)} ${e.imagesPerSecond.toFixed(0)} img/s`;
        if (tty) {
          const w = 24, filled = Math.round(frac * w);
          out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(w - filled)}] ${(100 * frac).toFixed(1)}% ${msg}`);
          barShown = true;
        } else if (Date.now() - lastPlain > 5000) {
          lastPlain = Date.now();
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
