// Flags that only add records to a run (--telemetry, --save-steps) cannot add them to a run that
// has already finished: the trainer skips a finished folder, and the records are made while
// training. Rather than say "already done" and add nothing, the commands check this before any
// GPU work and stop with one line saying what is missing and how to get it.
import { UserError } from '../../src/errors.ts';
import type { RunStorage } from '../../src/train/storage.ts';
import { weightsFileName } from '../../src/train/run-files.ts';

export interface WantedRecords {
  /** Iterations whose weights must be saved (--save-steps). */
  saveIterations?: readonly number[];
  /** Iterations per epoch, to name the weights files of saveIterations. */
  perEpoch?: number;
  /** Early-training telemetry rows in metrics.csv (--telemetry). */
  telemetry?: boolean;
}

/** What `dir` (a finished training run) lacks of `want`, as phrases naming the flag; [] when it is unfinished or complete. */
export async function missingFromFinishedRun(storage: RunStorage, dir: string, want: WantedRecords): Promise<string[]> {
  if (!(await storage.exists(`${dir}/done.json`))) return []; // not finished: training will record everything
  const missing: string[] = [];
  if (want.telemetry) {
    const metrics = await storage.read(`${dir}/metrics.csv`);
    if (!metrics || !/^telemetry\//m.test(new TextDecoder().decode(metrics))) missing.push('telemetry (--telemetry)');
  }
  if (want.saveIterations?.length) {
    const absent: string[] = [];
    for (const it of want.saveIterations) {
      const f = weightsFileName(it, want.perEpoch!);
      if (!(await storage.exists(`${dir}/${f}`))) absent.push(f);
    }
    if (absent.length) missing.push(`the weights ${absent.join(', ')} (--save-steps)`);
  }
  return missing;
}

/** Throws a UserError when a finished run lacks what the flags ask for (see the file comment). */
export async function refuseIfFinishedWithout(storage: RunStorage & { root: string }, dirs: readonly string[], want: WantedRecords): Promise<void> {
  for (const dir of dirs) {
    const missing = await missingFromFinishedRun(storage, dir, want);
    if (!missing.length) continue;
    const full = `${storage.root}/${dir}`;
    throw new UserError(`${full} finished without ${missing.join(' and ')}, which are recorded while training and cannot be added to a finished run; ` +
      `to get them, train it again: remove the folder (rm -r ${full}; the same seeds give the same weights) or use another --root`);
  }
}

/**
 * Runs among `dirs` that finished with --evaluate-only-at-end (no test evaluation before the last
 * iteration): asked again without the flag they are skipped, so the command says, in one line
 * each, that their per-epoch test curve does not exist and how to get it. Not an error: the
 * final accuracy every table shows is there.
 */
export async function evaluatedOnlyAtEnd(storage: RunStorage & { root: string }, dirs: readonly string[]): Promise<string[]> {
  const notes: string[] = [];
  for (const dir of dirs) {
    const done = await storage.read(`${dir}/done.json`);
    const metrics = done && await storage.read(`${dir}/metrics.csv`);
    if (!done || !metrics) continue;
    const end = Number(JSON.parse(new TextDecoder().decode(done)).iteration);
    const rows = new TextDecoder().decode(metrics).split('\n').filter((l) => l.startsWith('test_accuracy,'));
    if (rows.length && rows.every((l) => Number(l.split(',')[1]) >= end)) {
      const full = `${storage.root}/${dir}`;
      notes.push(`note: ${full} finished with --evaluate-only-at-end, so it has no per-epoch test accuracy; for that curve remove the folder (rm -r ${full}) and run again`);
    }
  }
  return notes;
}

