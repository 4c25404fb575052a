// `earlyphase instability`: linear-mode-connectivity instability of lottery levels at their rewind
// point (two copies from w_k with different data orders; error along the line between them).
import { HparamsError, UserError } from '../../src/errors.ts';
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { planLottery } from '../../src/lottery/lottery.ts';
import { trunkFor } from '../../src/lottery/branch.ts';
import { parsePack, resolvePack } from '../host/pack-size.ts';
import { runInstability, type InstabilityResult } from '../../src/lottery/instability.ts';
import { parseLevels } from '../../src/lottery/levels.ts';
import { unsupportedKnobs } from '../../src/train/run-plan.ts';
import { tensorSeed } from '../../src/nn/init.ts';
import { loadDataset } from '../data/datasets.ts';
import { openGpu } from '../host/dawn.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { terminalSink } from './progress.ts';
import { checkRunsFit } from '../host/capacity.ts';
import { lockForCommand } from '../storage/run-lock.ts';
import { RunControl } from '../../src/train/control.ts';

export interface InstabilityCommand {
  root: string; replicate: number; dataDir?: string; levels: string; points: number; sameOrder?: boolean; quiet?: boolean;
  /** "2" (or auto): the two copies train as one pack; default: one after the other. */
  pack?: string;
  adapter?: string; argv: string[];
}

export function formatInstability(rows: readonly InstabilityResult[]): string {
  const lines = [`${'level'.padStart(5)}  ${'error α=0'.padStart(10)}  ${'error α=½'.padStart(10)}  ${'error α=1'.padStart(10)}  ${'barrier'.padStart(8)}`];
  for (const r of rows) {
    const mid = r.errors[Math.floor(r.errors.length / 2)]!;
    const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
    lines.push(`${String(r.level).padStart(5)}  ${pct(r.errors[0]!).padStart(10)}  ${pct(mid).padStart(10)}  ${pct(r.errors.at(-1)!).padStart(10)}  ${pct(r.barrier).padStart(8)}`);
  }
  return lines.join('\n');
}

export async function runInstabilityCommand(o: InstabilityCommand): Promise<InstabilityResult[]> {
  const { hparams, lottery, rest } = parseLotteryArgv(o.argv);
  if (rest.length) throw new HparamsError(`unknown argument${rest.length > 1 ? 's' : ''} ${rest.join(' ')}`);
  const bad = unsupportedKnobs(hparams);
  if (bad.length) throw new UserError(`not supported yet: ${bad.join('; ')}`);
  const levels = parseLevels(o.levels);
  const pack = o.pack ? parsePack(o.pack) : 1;
  const data = await loadDataset(hparams.dataset.dataset_name, { dataDir: o.dataDir, log: console.error });
  const storage = new FsStorage(o.root);
  const sink = terminalSink({ quiet: o.quiet });
  const base = hparams.training.data_order_seed ?? tensorSeed(o.replicate, 'data_order_seed');
  const seeds: [number, number] = [base, o.sameOrder ? base : tensorSeed(base, 'instability copy 2')];
  const plan = planLottery({ hparams, lottery, replicate: o.replicate, maxLevel: Math.max(...levels) }, data);
  for (const l of levels) await trunkFor({ storage, sink }, plan, l); // trunk present? (no GPU yet)
  await checkRunsFit([{ spec: plan.spec, batch: hparams.dataset.batch_size }], o.adapter);
  const control = new RunControl();
  const gpu = await openGpu(o.adapter);
  const out: InstabilityResult[] = [];
  try {
    const k = resolvePack(pack, gpu, plan.spec, hparams.dataset.batch_size, 2, (s) => console.error(s));
    for (const level of levels) {
      const lock = await lockForCommand(storage.root, `${plan.root}/level_${level}/.lock-instability_${seeds.join('_')}`, control); // the path a sweep job uses too
      try {
        out.push(await runInstability({ gpu, storage, sink, data }, {
          hparams, lottery, replicate: o.replicate, maxLevel: level, level, points: o.points, seeds, control,
        }, { pack: k }));
      } finally {
        await lock.release();
      }
    }
  } finally {
    gpu.destroy();
  }
  console.log(`${storage.root}/${plan.root}: instability at the rewind point (${o.points} points, data orders ${o.sameOrder ? 'identical' : 'different'})`);
  console.log(formatInstability(out));
  return out;
}
