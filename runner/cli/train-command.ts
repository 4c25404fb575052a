// `earlyphase train`: validate everything (flags, model, dataset files) before touching the GPU,
// then run the shared driver with Node's storage and terminal progress.
import { hparamsHash, parseHparamArgv } from '../../src/train/hparams.ts';
import { HparamsError } from '../../src/errors.ts';
import { getModel, modelForData } from '../../src/nn/zoo.ts';
import { trainRuns } from '../../src/train/trainer.ts';
import { iterationsFor, unsupportedKnobs } from '../../src/train/run-plan.ts';
import { DEFAULT_TELEMETRY } from '../../src/train/telemetry.ts';
import { parseStepList, stepToIterations } from '../../src/train/steps.ts';
import { UserError } from '../../src/errors.ts';
import { loadDataset } from '../data/datasets.ts';
import { openGpu } from '../host/dawn.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { terminalSink } from './progress.ts';
import { checkRunsFit } from '../host/capacity.ts';
import { evaluatedOnlyAtEnd, refuseIfFinishedWithout } from '../storage/finished-runs.ts';
import { lockForCommand } from '../storage/run-lock.ts';
import { RunControl } from '../../src/train/control.ts';
import { parseReplicates } from '../sweep/sweep-shrink.ts';
import { parsePack, resolvePack } from '../host/pack-size.ts';
import { checkInitWeights } from '../data/init-weights.ts';
import { taskClasses } from '../../src/train/device-data.ts';

export interface TrainCommand {
  root: string; replicate: number; dataDir?: string; evaluateOnlyAtEnd?: boolean; saveSteps?: string; telemetry?: boolean; quiet?: boolean;
  /** "1-8": several replicates (instead of --replicate), in lockstep when packed. */
  replicates?: string;
  /** Runs per pack ("4", "auto"); default: each run alone. */
  pack?: string;
  adapter?: string; argv: string[];
}

export async function runTrain(o: TrainCommand): Promise<void> {
  const { hparams, rest } = parseHparamArgv(o.argv);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase train --hparams-help)`);
  const bad = unsupportedKnobs(hparams);
  if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  getModel(hparams.model.model_name);
  const data = await loadDataset(hparams.dataset.dataset_name, { dataDir: o.dataDir, log: console.error });
  const spec = modelForData(hparams.model.model_name, data.train, data.train.classes); // e.g. VGG on 28×28 images: refused before the GPU
  // --init-weights: names, shapes, dtypes, finite — before the GPU, for the task's head (4 classes for rotation).
  checkInitWeights(hparams, modelForData(hparams.model.model_name, data.train, taskClasses(hparams, data.train.classes)));
  const { perEpoch, total } = iterationsFor(hparams, data.train.count);
  const saveIterations = o.saveSteps ? parseStepList(o.saveSteps, '--save-steps').map((s) => stepToIterations(s, perEpoch, '--save-steps')) : [];
  const late = saveIterations.filter((i) => i > total);
  if (late.length) throw new HparamsError(`--save-steps ${o.saveSteps}: iteration ${late[0]} is past the end of training (${total})`);
  const replicates = o.replicates ? parseReplicates(o.replicates) : [o.replicate];
  const pack = o.pack ? parsePack(o.pack) : 1;
  const trunk = (r: number) => `train_${hparamsHash(hparams)}/replicate_${r}`;
  const dirs = replicates.map((r) => `${trunk(r)}/main`);
  const storage = new FsStorage(o.root);
  await refuseIfFinishedWithout(storage, dirs, { saveIterations, perEpoch, telemetry: o.telemetry });
  if (!o.evaluateOnlyAtEnd) for (const n of await evaluatedOnlyAtEnd(storage, dirs)) console.error(n);
  await checkRunsFit([{ spec, batch: hparams.dataset.batch_size }], o.adapter);
  const control = new RunControl();
  const locks = [];
  try {
    for (const r of replicates) locks.push(await lockForCommand(storage.root, `${trunk(r)}/.lock-train`, control));
    const gpu = await openGpu(o.adapter);
    try {
      const k = resolvePack(pack, gpu, spec, hparams.dataset.batch_size, replicates.length, (line) => console.error(line));
      const jobs = replicates.map((replicate, i) => ({
        run: dirs[i]!, dir: dirs[i]!, hparams, replicate, data, evaluateOnlyAtEnd: o.evaluateOnlyAtEnd, saveIterations,
        telemetry: o.telemetry ? DEFAULT_TELEMETRY : undefined, control,
      }));
      const outcomes = await trainRuns(gpu, storage, terminalSink({ quiet: o.quiet }), jobs, { pack: k });
      let failed: unknown = null;
      for (const [i, r] of outcomes.entries()) {
        if ('error' in r) {
          failed ??= r.error;
          if (jobs.length > 1) console.error(`earlyphase: replicate ${replicates[i]} stopped: ${(r.error as Error)?.message ?? String(r.error)}`);
          continue;
        }
        console.log(JSON.stringify({ run: `${storage.root}/${dirs[i]}`, testAccuracy: r.testAccuracy, weightsSha256: r.weightsHash, iterations: r.iterations, skipped: r.skipped }));
      }
      if (failed !== null) throw failed;
    } finally {
      gpu.destroy();
    }
  } finally {
    for (const l of locks) await l.release();
  }
}
