// `earlyphase batches`: a run's batch composition for iterations [from, to) as a safetensors file
// (src/train/batch-export.ts), from the same flags `train` takes. Host work only: no GPU is opened.
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { HparamsError, UserError } from '../../src/errors.ts';
import { parseHparamArgv } from '../../src/train/hparams.ts';
import { iterationsFor } from '../../src/train/run-plan.ts';
import { canonicalStep, stepToIterations } from '../../src/train/steps.ts';
import { encodeBatches } from '../../src/train/batch-export.ts';
import { loadDataset } from '../data/datasets.ts';
import { writeFileAtomic } from '../storage/atomic-write.ts';

export interface BatchesCommand {
  replicate: number; dataDir?: string; out: string;
  /** Steps like 0it, 2ep; default 0it and the run's training_steps. */
  from?: string; to?: string;
  withImages?: boolean;
  argv: string[];
}

export async function runBatches(o: BatchesCommand): Promise<void> {
  const { hparams, rest } = parseHparamArgv(o.argv);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase batches --help)`);
  const out = resolve(o.out);
  if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) throw new UserError(`--out ${o.out}: folder ${dirname(out)} does not exist; create it first`);
  if (existsSync(out) && statSync(out).isDirectory()) throw new UserError(`--out ${o.out} is a folder; name the file to write, e.g. ${o.out}/batches.safetensors`);
  const from = canonicalStep(o.from ?? '0it', '--from');
  const data = await loadDataset(hparams.dataset.dataset_name, { dataDir: o.dataDir, log: console.error });
  const { perEpoch, total } = iterationsFor(hparams, data.train.count);
  const a = stepToIterations(from, perEpoch, '--from');
  const b = o.to === undefined ? total : stepToIterations(canonicalStep(o.to, '--to'), perEpoch, '--to');
  if (b > total) throw new UserError(`--to ${o.to} (iteration ${b}) is past the end of training (${hparams.training.training_steps} = ${total} iterations)`);
  if (a >= b) throw new UserError(`--from ${from} (iteration ${a}) must come before --to (iteration ${b})`);
  const bytes = encodeBatches({ hparams, replicate: o.replicate, train: data.train, from: a, to: b, images: o.withImages });
  await writeFileAtomic(out, bytes);
  console.log(JSON.stringify({ out, iterations: [a, b], iterationsPerEpoch: perEpoch, batchSize: hparams.dataset.batch_size, bytes: bytes.length }));
}
