// `earlyphase sweep NAME|FILE`: expands a sweep (a preset named after one of the paper's figures,
// or a JSON spec file), validates all of it before any GPU work, then runs what is missing with
// overall progress. Finished stages are skipped, so re-running a sweep continues it.
import { existsSync, readFileSync } from 'node:fs';
import { HparamsError } from '../../src/errors.ts';
import { expandSweep, validateSweep, type SweepJob, type SweepSpec } from '../../src/lottery/sweep.ts';
import { sweepPreset } from '../../src/lottery/sweep-presets.ts';
import { levelDir, planLottery } from '../../src/lottery/lottery.ts';
import { datasetCache, jobData, runSweepJob, runSweepJobsPacked } from '../sweep/sweep-job.ts';
import { parsePack, resolvePack } from '../host/pack-size.ts';
import { jobFolders, jobStatus, shrinkSweep, type Shrink } from '../sweep/sweep-shrink.ts';
import { DatasetNotFoundError } from '../data/datasets.ts';
import { join } from 'node:path';
import { openGpu } from '../host/dawn.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { formatDuration, terminalSink } from './progress.ts';
import { checkRunsFit } from '../host/capacity.ts';
import type { ModelSpec } from '../../src/nn/graph.ts';
import { formatLevels } from './lottery-command.ts';
import { refuseIfFinishedWithout } from '../storage/finished-runs.ts';

export interface SweepCommand extends Shrink { pack?: string; spec: string; setup: string; root: string; dataDir?: string; dryRun?: boolean; quiet?: boolean; adapter?: string; queue?: string; follow?: boolean }

export function loadSweepSpec(spec: string, setup: string): SweepSpec {
  if (existsSync(spec)) {
    let raw: unknown;
    try { raw = JSON.parse(readFileSync(spec, 'utf8')); } catch (e) { throw new HparamsError(`${spec}: not valid JSON (${(e as Error).message})`); }
    return validateSweep(raw, spec);
  }
  return sweepPreset(spec, setup);
}

export async function runSweep(o: SweepCommand): Promise<void> {
  const spec = shrinkSweep(loadSweepSpec(o.spec, o.setup), o);
  const jobs = expandSweep(spec);
  const pack = o.pack ? parsePack(o.pack) : 1;
  if (o.queue && o.pack && !o.dryRun) console.error('note: --pack does not travel with the queued jobs; give it to the workers (earlyphase worker --pack K)');
  if (o.queue && !o.dryRun) { const { enqueueCommand } = await import('./queue-command.ts'); return enqueueCommand({ ...o, queue: o.queue }, spec); }
  const env0 = { data: datasetCache(o.dataDir) };
  let noData: string | undefined;
  const storage = new FsStorage(o.root);
  const fits: { spec: ModelSpec; batch: number }[] = [];
  for (const j of jobs) {
    // A dry run lists the jobs of a setup whose data is elsewhere (e.g. --setup resnet20 without CIFAR-10).
    const d = o.dryRun ? await jobData(env0, j).catch((e) => {
      if (!(e instanceof DatasetNotFoundError)) throw e;
      noData ??= `note: ${j.hparams.dataset.dataset_name} is not here, so rewind points and lengths were not checked against it (earlyphase data fetch ${j.hparams.dataset.dataset_name})`;
      return null;
    }) : await jobData(env0, j);
    if (!d) continue;
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
  if (o.dryRun) {
    if (noData) console.error(noData);
    for (const [i, j] of jobs.entries()) {
      console.log(`${i + 1}. ${j.kind}: ${j.label} — ${jobStatus(storage.root, j)}`);
      for (const f of jobFolders(j)) console.log(`     ${join(storage.root, f)}`);
    }
    return;
  }
  const sink = terminalSink({ quiet: o.quiet });
  const gpu = await openGpu(o.adapter);
  const t0 = Date.now();
  try {
    if (pack !== 1) {
      const k = resolvePack(pack, gpu, fits[0]!.spec, fits[0]!.batch, togetherAtMost(jobs), (s) => console.error(s));
      console.error(`[sweep ${spec.name}] ${jobs.length} jobs, up to ${k} networks per pack: lotteries level by level in lockstep, then branches, then instability analyses`);
      const outcomes = await runSweepJobsPacked({ gpu, storage, sink, data: env0.data }, jobs, k, { owner: `sweep ${spec.name}`, log: (s) => console.error(`  ${s}`) });
      let failed: unknown = null;
      for (const [i, r] of outcomes.entries()) {
        const j = jobs[i]!;
        if ('error' in r) { failed ??= r.error; console.error(`  ${j.kind} ${j.label} failed: ${(r.error as Error)?.message ?? String(r.error)}`); }
        else if ('barrier' in r) console.error(`  ${j.label}: barrier ${(100 * r.barrier).toFixed(2)}% at level ${r.level}`);
        else if (r.rows.length && !o.quiet) console.error(formatLevels(`  ${j.kind} ${j.label}`, r.rows));
      }
      if (failed !== null) throw failed;
    } else for (const [i, j] of jobs.entries()) {
      // ETA from the pace of the jobs so far (skipped finished jobs make it optimistic early on).
      const elapsed = (Date.now() - t0) / 1000;
      const eta = i > 0 ? `, ETA ${formatDuration((elapsed / i) * (jobs.length - i))}` : '';
      console.error(`[sweep ${spec.name}] job ${i + 1}/${jobs.length}: ${j.kind} ${j.label} (${formatDuration(elapsed)} so far${eta})`);
      const r = await runSweepJob({ gpu, storage, sink, data: env0.data }, j, { owner: `sweep ${spec.name}`, log: (s) => console.error(`  ${s}`) });
      if ('barrier' in r) console.error(`  barrier ${(100 * r.barrier).toFixed(2)}% at level ${r.level}`);
      else if (r.rows.length && !o.quiet) console.error(formatLevels(`  ${j.label}`, r.rows));
    }
  } finally {
    gpu.destroy();
  }
  console.log(`sweep ${spec.name}: ${jobs.length} jobs done in ${((Date.now() - t0) / 1000).toFixed(0)} s under ${storage.root}; make figures with: earlyphase report ${storage.root}`);
}

/** The most runs a packed sweep trains at once: its lotteries (one level each), or every level of its branches. */
function togetherAtMost(jobs: readonly SweepJob[]): number {
  let lotteries = 0, branchRuns = 0;
  for (const j of jobs) {
    if (j.kind === 'lottery') lotteries++;
    else if (j.kind === 'branch') branchRuns += j.levels.length;
  }
  return Math.max(1, lotteries, branchRuns);
}
