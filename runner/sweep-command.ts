// `earlyphase sweep NAME|FILE`: expands a sweep (a preset named after one of the paper's figures,
// or a JSON spec file), validates all of it before any GPU work, then runs what is missing with
// overall progress. Finished stages are skipped, so re-running a sweep continues it.
import { existsSync, readFileSync } from 'node:fs';
import { HparamsError } from '../src/errors.ts';
import { expandSweep, validateSweep, type SweepJob, type SweepSpec } from '../src/lottery/sweep.ts';
import { sweepPreset } from '../src/lottery/sweep-presets.ts';
import { levelDir, runLottery, planLottery, type LevelResult } from '../src/lottery/lottery.ts';
import { runBranch, trunkFor } from '../src/lottery/branch.ts';
import { runInstability } from '../src/lottery/instability.ts';
import { DEFAULT_TELEMETRY } from '../src/train/telemetry.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import { loadDataset } from './datasets.ts';
import { openGpu } from './dawn.ts';
import { FsStorage } from './fs-storage.ts';
import { terminalSink } from './progress.ts';
import { checkRunsFit } from './capacity.ts';
import type { ModelSpec } from '../src/nn/graph.ts';
import { formatLevels } from './lottery-command.ts';
import { refuseIfFinishedWithout } from './finished-runs.ts';

export interface SweepCommand { spec: string; setup: string; root: string; dataDir?: string; dryRun?: boolean; quiet?: boolean; adapter?: string }

export function loadSweepSpec(spec: string, setup: string): SweepSpec {
  if (existsSync(spec)) {
    let raw: unknown;
    try { raw = JSON.parse(readFileSync(spec, 'utf8')); } catch (e) { throw new HparamsError(`${spec}: not valid JSON (${(e as Error).message})`); }
    return validateSweep(raw, spec);
  }
  return sweepPreset(spec, setup);
}

export async function runSweep(o: SweepCommand): Promise<void> {
  const spec = loadSweepSpec(o.spec, o.setup);
  const jobs = expandSweep(spec);
  const datasets = new Map<string, DatasetSplits>();
  const data = async (name: string) => {
    if (!datasets.has(name)) datasets.set(name, await loadDataset(name, { dataDir: o.dataDir, log: console.error }));
    return datasets.get(name)!;
  };
  for (const j of jobs) {
    await data(j.hparams.dataset.dataset_name);
    if (j.lottery.pretrain) await data(j.lottery.pretrain.hparams.dataset.dataset_name);
  }
  const envData = async (j: SweepJob) => ({
    data: await data(j.hparams.dataset.dataset_name),
    pretrainData: j.lottery.pretrain ? await data(j.lottery.pretrain.hparams.dataset.dataset_name) : undefined,
  });
  const storage = new FsStorage(o.root);
  const fits: { spec: ModelSpec; batch: number }[] = [];
  for (const j of jobs) {
    const d = await envData(j);
    const plan = planLottery({ ...j, maxLevel: j.kind === 'lottery' ? j.maxLevel : 0 }, d.data, d.pretrainData);
    fits.push({ spec: plan.spec, batch: j.hparams.dataset.batch_size });
    // A telemetry job whose levels another sweep finished without telemetry would record nothing.
    if (j.kind === 'lottery' && j.withTelemetry) {
      await refuseIfFinishedWithout(storage, Array.from({ length: j.maxLevel + 1 }, (_, l) => levelDir(plan, l)), { telemetry: true });
    }
  }
  console.error(`sweep ${spec.name}: ${jobs.length} jobs (${jobs.filter((j) => j.kind === 'lottery').length} lotteries, ` +
    `${jobs.filter((j) => j.kind === 'branch').length} branches, ${jobs.filter((j) => j.kind === 'instability').length} instability analyses)`);
  if (!o.dryRun) await checkRunsFit(fits, o.adapter);
  if (o.dryRun) { for (const [i, j] of jobs.entries()) console.log(`${i + 1}. ${j.kind}: ${j.label}`); return; }
  const sink = terminalSink({ quiet: o.quiet });
  const gpu = await openGpu(o.adapter);
  const t0 = Date.now();
  try {
    for (const [i, j] of jobs.entries()) {
      console.error(`[sweep ${spec.name}] job ${i + 1}/${jobs.length}: ${j.kind} ${j.label} (${((Date.now() - t0) / 1000).toFixed(0)} s so far)`);
      const env = { gpu, storage, sink, ...(await envData(j)) };
      let rows: LevelResult[] = [];
      if (j.kind === 'lottery') {
        rows = await runLottery(env, { ...j, telemetry: j.withTelemetry ? DEFAULT_TELEMETRY : undefined });
      } else if (j.kind === 'branch') {
        const plan = planLottery({ ...j, maxLevel: Math.max(...j.levels) }, env.data, env.pretrainData);
        for (const l of j.levels) await trunkFor(env, plan, l);
        rows = await runBranch(env, { ...j, maxLevel: Math.max(...j.levels) });
      } else {
        const r = await runInstability(env, { ...j, maxLevel: j.level, seeds: [j.replicate, j.replicate + 1_000_003] });
        console.error(`  barrier ${(100 * r.barrier).toFixed(2)}% at level ${r.level}`);
      }
      if (rows.length && !o.quiet) console.error(formatLevels(`  ${j.label}`, rows));
    }
  } finally {
    gpu.destroy();
  }
  console.log(`sweep ${spec.name}: ${jobs.length} jobs done in ${((Date.now() - t0) / 1000).toFixed(0)} s under ${storage.root}; make figures with: earlyphase report ${storage.root}`);
}
