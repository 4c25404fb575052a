// What can be said of a run from its hyperparameters and dataset size alone, before any GPU work:
// its length in iterations, and the knobs it sets that exist in the schema but are not implemented.
import type { Hparams } from './hparams.ts';
import { stepToIterations } from './steps.ts';
import { trainExamples } from './device-data.ts';

/** Knobs set to values the schema knows but the engine does not implement, as flag texts for the error. */
export function unsupportedKnobs(h: Hparams): string[] {
  const out: string[] = [];
  if (h.model.model_init !== 'kaiming_normal') out.push(`--model-init ${h.model.model_init} (only kaiming_normal is implemented)`);
  for (const k of ['batchnorm_frozen', 'output_frozen', 'others_frozen'] as const) if (h.model[k]) out.push(`--${k.replace(/_/g, '-')} (freezing is not implemented)`);
  return out;
}

/** Iterations per epoch (ceil(examples / batch): the last batch holds the remainder) and in the whole run. */
export function iterationsFor(h: Hparams, datasetExamples: number): { perEpoch: number; total: number } {
  const perEpoch = Math.ceil(trainExamples(h, datasetExamples) / h.dataset.batch_size);
  return { perEpoch, total: stepToIterations(h.training.training_steps, perEpoch, 'training_steps') };
}
