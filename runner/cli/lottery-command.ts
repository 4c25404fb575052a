// `earlyphase lottery`: IMP with rewinding (OpenLTH `lottery`). Flags, levels, the model and the
// dataset files are all checked before the GPU is touched; then every level runs (or is skipped
// when its folder is complete) and a table of accuracy against weights remaining is printed.
import { HparamsError } from '../../src/errors.ts';
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { levelDir, planLottery, runLotteries, type LevelResult } from '../../src/lottery/lottery.ts';
import { parseLevels } from '../../src/lottery/levels.ts';
import { unsupportedKnobs } from '../../src/train/run-plan.ts';
import { modelForData } from '../../src/nn/zoo.ts';
import { taskClasses } from '../../src/train/device-data.ts';
import { DEFAULT_TELEMETRY } from '../../src/train/telemetry.ts';
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

export interface LotteryCommand {
  root: string; replicate: number; dataDir?: string; levels: string;
  /** "1-8": several replicates, level by level in lockstep (instead of --replicate). */
  replicates?: string;
  /** Runs per pack ("4", "auto"); default: each run alone. */
  pack?: string;
  evaluateOnlyAtEnd?: boolean; telemetry?: boolean; quiet?: boolean;
  adapter?: string; argv: string[];
}

export function formatLevels(title: string, rows: readonly LevelResult[]): string {
  const lines = [title, `${'level'.padStart(5)}  ${'weights remaining'.padStart(17)}  ${'test accuracy'.padStart(13)}`];
  for (const r of rows) {
    lines.push(`${String(r.level).padStart(5)}  ${(100 * r.density).toFixed(2).padStart(16)}%  ${r.testAccuracy === null ? 'n/a'.padStart(13) : ((100 * r.testAccuracy).toFixed(2) + '%').padStart(13)}`);
  }
  return lines.join('\n');
}

export async function runLotteryCommand(o: LotteryCommand): Promise<LevelResult[][]> {
  const { hparams, lottery, rest } = parseLotteryArgv(o.argv);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')} (see earlyphase train --hparams-help)`);
  for (const h of [hparams, lottery.pretrain?.hparams]) {
    const bad = h ? unsupportedKnobs(h) : [];
    if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  }
  const levels = parseLevels(o.levels);
  const replicates = o.replicates ? parseReplicates(o.replicates) : [o.replicate];
  const pack = o.pack ? parsePack(o.pack) : 1;
  const data = await loadDataset(hparams.dataset.dataset_name, { dataDir: o.dataDir, log: console.error });
  const pre = lottery.pretrain?.hparams.dataset.dataset_name;
  const pretrainData = pre && pre !== hparams.dataset.dataset_name ? await loadDataset(pre, { dataDir: o.dataDir, log: console.error }) : undefined;
  const control = new RunControl();
  const jobs = replicates.map((replicate) => ({ hparams, lottery, replicate, maxLevel: Math.max(...levels), evaluateOnlyAtEnd: o.evaluateOnlyAtEnd, telemetry: o.telemetry ? DEFAULT_TELEMETRY : undefined, control }));
  const plans = jobs.map((job) => planLottery(job, data, pretrainData)); // validates k, pre-training length, levels — still no GPU
  const storage = new FsStorage(o.root);
  for (const plan of plans) {
    const levelDirs = Array.from({ length: jobs[0]!.maxLevel + 1 }, (_, l) => levelDir(plan, l));
    await refuseIfFinishedWithout(storage, levelDirs, { telemetry: o.telemetry });
    if (!o.evaluateOnlyAtEnd) for (const n of await evaluatedOnlyAtEnd(storage, levelDirs)) console.error(n);
  }
  const spec = plans[0]!.spec;
  // --init-weights: level 0 starts from the file (pre-training too, when there is one), so it must fit both networks.
  checkInitWeights(hparams, spec);
  if (lottery.pretrain) {
    const ph = lottery.pretrain.hparams, pd = pretrainData ?? data;
    checkInitWeights(ph, modelForData(ph.model.model_name, pd.train, taskClasses(ph, pd.train.classes)));
  }
  await checkRunsFit([hparams, lottery.pretrain?.hparams].flatMap((h) => (h ? [{ spec, batch: h.dataset.batch_size }] : [])), o.adapter);
  const locks = [];
  try {
    for (const plan of plans) locks.push(await lockForCommand(storage.root, `${plan.root}/.lock-lottery`, control)); // the path a sweep job uses too
    const gpu = await openGpu(o.adapter);
    try {
      const k = resolvePack(pack, gpu, spec, hparams.dataset.batch_size, jobs.length, (s) => console.error(s));
      const env = { gpu, storage, sink: terminalSink({ quiet: o.quiet, maxLevel: jobs[0]!.maxLevel }), data, pretrainData };
      const outcomes = await runLotteries(jobs.map((job) => ({ env, job })), { pack: k });
      let failed: unknown = null;
      for (const [i, r] of outcomes.entries()) {
        const shown = r.rows.filter((row) => levels.includes(row.level));
        const title = `${storage.root}/${plans[i]!.root} (rewind to ${lottery.pretrain ? 'the pre-trained weights' : lottery.rewindingSteps})`;
        if (shown.length) console.log(formatLevels(title, shown));
        if ('error' in r) {
          failed ??= r.error;
          if (jobs.length > 1) console.error(`earlyphase: replicate ${jobs[i]!.replicate} stopped: ${(r.error as Error)?.message ?? String(r.error)}`);
        }
      }
      if (failed !== null) throw failed;
      return outcomes.map((r) => r.rows);
    } finally {
      gpu.destroy();
    }
  } finally {
    for (const l of locks) await l.release();
  }
}
