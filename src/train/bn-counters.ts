// PyTorch's BatchNorm has a third buffer beside running_mean and running_var: `num_batches_tracked`,
// an int64 scalar (shape []) counting the training-mode forward passes the layer has seen. It only
// matters for BatchNorm(momentum=None) (a cumulative average), which OpenLTH does not use, so we
// do not track it, but `load_state_dict(..., strict=True)` into OpenLTH's models fails without it.
// Weights files and checkpoints therefore carry one per batch-norm layer, and reading accepts files
// with them (ours, PyTorch's) and without them (runs written before they existed).
//
// The value written is the iteration the file is saved at. Every training-mode forward of a run
// passes through every BN once, so for a run trained from iteration 0 that is exactly PyTorch's
// count; a lottery level rewound to k starts from the k-th iteration's state and continues counting
// from k, as OpenLTH's rewound levels do (branches that reinitialise the weights write their
// iteration too: the counter describes the run, not the weights).
import type { Arena } from '../gpu/tensor.ts';
import type { SafetensorsFile, TensorInput, TensorSpec } from '../io/safetensors.ts';
import { CorruptFileError } from './storage.ts';

const MEAN_SUFFIX = '.running_mean';
export const COUNTER_SUFFIX = '.num_batches_tracked';

/** `<bn>.num_batches_tracked` for every batch-norm layer of the stats arena (found by its running_mean). */
export function counterNames(stats: Arena): string[] {
  return stats.layout().filter((e) => e.name.endsWith(MEAN_SUFFIX)).map((e) => e.name.slice(0, -MEAN_SUFFIX.length) + COUNTER_SUFFIX);
}

/** The counters to write: each an I64 scalar holding `batches` (the file's iteration). */
export function counterTensors(stats: Arena, batches: number): Record<string, TensorInput> {
  if (!Number.isSafeInteger(batches) || batches < 0) throw new Error(`batch-norm num_batches_tracked: ${batches} is not a non-negative integer`);
  return Object.fromEntries(counterNames(stats).map((n) => [n, { shape: [], data: BigInt64Array.of(BigInt(batches)), dtype: 'I64' as const }]));
}

/**
 * What a file may hold besides the model's float tensors: no counters at all (our files before
 * they were written), or one per batch-norm layer (a partial set is reported as missing names).
 */
export function counterSpecs(stats: Arena, file: SafetensorsFile): Record<string, TensorSpec> {
  const names = counterNames(stats);
  if (!names.some((n) => file.tensors.has(n))) return {};
  return Object.fromEntries(names.map((n) => [n, { shape: [], dtype: 'I64' as const }]));
}

/** After the file matched the specs: a count of batches is never negative. */
export function checkCounters(file: SafetensorsFile, path: string): void {
  for (const [name, t] of file.tensors) {
    if (t.data instanceof BigInt64Array && t.data.some((v) => v < 0n)) {
      throw new CorruptFileError(path, `tensor ${name} holds ${t.data[0]}; a count of batches is never negative`);
    }
  }
}
