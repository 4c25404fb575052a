// What a training run is asked to do and what it gives back: the types the trainer, the run-folder
// opener, lotteries and branches share (kept apart from the loop so none of them imports another
// back for a type).
import type { DatasetSplits } from '../data/dataset.ts';
import type { Hparams } from './hparams.ts';
import type { HostState } from './checkpoint.ts';
import type { TelemetryOptions } from './telemetry.ts';
import type { RunControl } from './control.ts';

export interface TrainJob {
  /** Display name for progress lines, e.g. "lottery_ab12…/replicate_1/level_3". */
  run: string;
  /** Folder under the storage root. */
  dir: string;
  hparams: Hparams;
  replicate: number;
  data: DatasetSplits;
  /** Start from these weights (rewind point) instead of the seeded initialisation. */
  init?: HostState;
  /** 0/1 per parameter element in arena layout; pruned weights and their optimiser state stay exactly 0. */
  mask?: Float32Array;
  /** First iteration (k when rewinding); the schedule and data order continue from there. */
  startIteration?: number;
  /** Save model_<step>.safetensors at these iterations (the start and the end are always saved). */
  saveIterations?: number[];
  evaluateOnlyAtEnd?: boolean;
  /** Early-training telemetry (src/train/telemetry.ts); off when absent. */
  telemetry?: TelemetryOptions;
  /** Pause/stop between steps (the browser tab); absent for the CLI. */
  control?: RunControl;
}

export interface TrainResult {
  final: HostState;
  testAccuracy: number | null;
  weightsHash: string;
  iterations: number;
  skipped: boolean;
}

/** A run's outcome in a pack: its result, or the error that stopped it alone. */
export type PackOutcome = TrainResult | { error: unknown };
