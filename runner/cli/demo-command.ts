// `earlyphase demo`: the README's main job. A small but real lottery-ticket experiment on
// Fashion-MNIST with LeNet-300-100 (OpenLTH's recipe, shortened: a subsample and fewer epochs so it
// fits in minutes on a 2-core CPU): IMP rewinding to 0 and to k, plus random reinitialisation of
// the same masks, and a table of test accuracy against the fraction of weights remaining.
import { parseLotteryArgv } from '../../src/lottery/options.ts';
import { runLottery, planLottery, type LevelResult } from '../../src/lottery/lottery.ts';
import { runBranch } from '../../src/lottery/branch.ts';
import { parseLevels } from '../../src/lottery/levels.ts';
import { tensorSeed } from '../../src/nn/init.ts';
import { loadDataset } from '../data/datasets.ts';
import { openGpu } from '../host/dawn.ts';
import { FsStorage } from '../storage/fs-storage.ts';
import { terminalSink } from './progress.ts';

export interface DemoCommand {
  root: string; replicate: number; levels: string; reinitLevels: string; rewind: string; trainingSteps: string; subsample: string;
  dataDir?: string; quiet?: boolean; adapter?: string;
}

export function demoTable(columns: { title: string; rows: readonly LevelResult[] }[]): string {
  const levels = [...new Set(columns.flatMap((c) => c.rows.map((r) => r.level)))].sort((a, b) => a - b);
  const density = new Map(columns.flatMap((c) => c.rows.map((r) => [r.level, r.density] as const)));
  const w = Math.max(...columns.map((c) => c.title.length), 9);
  const head = `${'level'.padStart(5)}  ${'weights'.padStart(8)}  ${columns.map((c) => c.title.padStart(w)).join('  ')}`;
  const lines = [head, '-'.repeat(head.length)];
  for (const l of levels) {
    const cells = columns.map((c) => {
      const r = c.rows.find((x) => x.level === l);
      return (r?.testAccuracy == null ? '—' : `${(100 * r.testAccuracy).toFixed(2)}%`).padStart(w);
    });
    lines.push(`${String(l).padStart(5)}  ${(100 * density.get(l)!).toFixed(1).padStart(7)}%  ${cells.join('  ')}`);
  }
  return lines.join('\n');
}

export async function runDemo(o: DemoCommand): Promise<void> {
  const base = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--training-steps', o.trainingSteps,
    ...(o.subsample === '1' ? [] : ['--subsample-fraction', o.subsample])];
  const at0 = parseLotteryArgv(base), atK = parseLotteryArgv([...base, '--rewinding-steps', o.rewind]);
  const levels = parseLevels(o.levels), reinitLevels = parseLevels(o.reinitLevels, 'only', '--reinit-levels');
  const maxLevel = Math.max(...levels);
  const data = await loadDataset('fashion_mnist', { dataDir: o.dataDir, log: console.error });
  const jobs = [at0, atK].map((p) => ({ hparams: p.hparams, lottery: p.lottery, replicate: o.replicate, maxLevel, evaluateOnlyAtEnd: true }));
  const plans = jobs.map((j) => planLottery(j, data));
  const storage = new FsStorage(o.root);
  const env = { storage, sink: terminalSink({ quiet: o.quiet }), data };
  const gpu = await openGpu(o.adapter);
  const t0 = Date.now();
  try {
    const r0 = await runLottery({ ...env, gpu }, jobs[0]!);
    const rk = await runLottery({ ...env, gpu }, jobs[1]!);
    const reinit = await runBranch({ ...env, gpu }, {
      ...jobs[1]!, branch: 'randomly_reinitialize', options: {}, seed: tensorSeed(o.replicate, 'branch:randomly_reinitialize'), levels: reinitLevels,
    });
    const pick = (rows: LevelResult[]) => rows.filter((r) => levels.includes(r.level));
    console.log(`\nLeNet-300-100 on Fashion-MNIST, ${o.trainingSteps} per level${o.subsample === '1' ? '' : ` on a ${o.subsample} subsample`}, ` +
      `pruning 20% per level, replicate ${o.replicate}, adapter ${gpu.adapter.shortName}, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
    console.log(demoTable([
      { title: 'rewind to 0', rows: pick(r0) },
      { title: `rewind to ${o.rewind}`, rows: pick(rk) },
      { title: 'random reinit', rows: reinit },
    ]));
    console.log(`\nresults: ${plans.map((p) => `${storage.root}/${p.root}`).join('\n         ')}\n(random reinit: level_*/branch_randomly_reinitialize_* under the second)`);
  } finally {
    gpu.destroy();
  }
}
