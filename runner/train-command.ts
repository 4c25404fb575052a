// `earlyphase train`: validate everything (flags, model, dataset files) before touching the GPU,
// then run the shared driver with Node's storage and terminal progress.
import { hparamsHash, parseHparamArgv } from '../src/train/hparams.ts';
import { HparamsError } from '../src/errors.ts';
import { getModel, modelForData } from '../src/nn/zoo.ts';
import { iterationsFor, train, unsupportedKnobs } from '../src/train/trainer.ts';
import { DEFAULT_TELEMETRY } from '../src/train/telemetry.ts';
import { parseStepList, stepToIterations } from '../src/train/steps.ts';
import { UserError } from '../src/errors.ts';
import { loadDataset } from './datasets.ts';
import { openGpu } from './dawn.ts';
import { FsStorage } from './fs-storage.ts';
import { terminalSink } from './progress.ts';
import { checkRunsFit } from './capacity.ts';
import { evaluatedOnlyAtEnd, refuseIfFinishedWithout } from './finished-runs.ts';
import { lockForCommand } from './run-lock.ts';
import { RunControl } from '../src/train/control.ts';

export interface TrainCommand {
  root: string; replicate: number; dataDir?: string; evaluateOnlyAtEnd?: boolean; saveSteps?: string; telemetry?: boolean; quiet?: boolean;
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
  const { perEpoch, total } = iterationsFor(hparams, data.train.count);
  const saveIterations = o.saveSteps ? parseStepList(o.saveSteps, '--save-steps').map((s) => stepToIterations(s, perEpoch, '--save-steps')) : [];
  const late = saveIterations.filter((i) => i > total);
  if (late.length) throw new HparamsError(`--save-steps ${o.saveSteps}: iteration ${late[0]} is past the end of training (${total})`);
  const dir = `train_${hparamsHash(hparams)}/replicate_${o.replicate}/main`;
  const storage = new FsStorage(o.root);
  await refuseIfFinishedWithout(storage, [dir], { saveIterations, perEpoch, telemetry: o.telemetry });
  if (!o.evaluateOnlyAtEnd) for (const n of await evaluatedOnlyAtEnd(storage, [dir])) console.error(n);
  await checkRunsFit([{ spec, batch: hparams.dataset.batch_size }], o.adapter);
  const control = new RunControl();
  const lock = await lockForCommand(storage.root, `train_${hparamsHash(hparams)}/replicate_${o.replicate}/.lock-train`, control);
  const gpu = await openGpu(o.adapter).catch(async (e) => { await lock.release(); throw e; });
  try {
    const r = await train(gpu, storage, terminalSink({ quiet: o.quiet }), {
      run: dir, dir, hparams, replicate: o.replicate, data, evaluateOnlyAtEnd: o.evaluateOnlyAtEnd, saveIterations, telemetry: o.telemetry ? DEFAULT_TELEMETRY : undefined, control,
    });
    console.log(JSON.stringify({ run: `${storage.root}/${dir}`, testAccuracy: r.testAccuracy, weightsSha256: r.weightsHash, iterations: r.iterations, skipped: r.skipped }));
  } finally {
    gpu.destroy();
    await lock.release();
  }
}
