// `earlyphase report`: a tiny real result tree (lottery with telemetry, a random-reinit branch,
// instability) → HTML + PNGs + summary. The PNGs are decoded here and must show a drawn chart,
// not a blank canvas; a tree with a deleted done.json is reported as partial and still drawn.
// The pure collect → figures path is also checked on an in-memory tree for the figures the tiny
// real tree does not produce (pre-training, instability vs. k, k from an epoch-qualified file).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fsSource, runReport } from '../../runner/cli/report-command.ts';
import { collectResults } from '../../src/report/collect.ts';
import { buildFigures } from '../../src/report/figures.ts';
import { formatSummary } from '../../src/report/summary.ts';
import { filesSource } from '../../src/report/files-source.ts';
import { assertChartDrawn } from '../png.ts';
import { earlyphase as cli } from '../cli.ts';
import { tempDir } from '../temp-dir.ts';

const FLAGS = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--training-steps', '2ep', '--rewinding-steps', '5it', '--adapter', 'llvmpipe', '--quiet'];
let root: string;

async function earlyphase(...args: string[]): Promise<void> {
  const r = await cli([...args, ...FLAGS, '--root', root], { timeoutMs: 180_000 });
  assert.equal(r.status, 0, `earlyphase ${args.join(' ')}: ${r.err}`);
}

before(async () => {
  root = tempDir('earlyphase-report-');
  await earlyphase('lottery', '--levels', '2', '--telemetry');
  // The branch and the instability analysis both start from the finished trunk: at once.
  await Promise.all([earlyphase('branch', 'randomly_reinitialize', '--levels', '1,2'), earlyphase('instability', '--levels', '1-1', '--points', '3')]);
});

test('report: HTML, one non-blank PNG per figure, every series has points, summary table', { timeout: 240_000 }, async () => {
  const out = join(root, 'out');
  const r = await runReport({ folder: root, out });
  const lottery = readdirSync(root).find((n) => n.startsWith('lottery_'))!;
  const figures = buildFigures(collectResults(fsSource(join(root, '..')), root.split('/').at(-1)!));
  const ids = figures.map((f) => f.id);
  for (const id of ['accuracy_vs_remaining', 'telemetry_grad_norm', 'telemetry_cosine_to_start', `perturbations_${lottery}`, 'instability_vs_level']) {
    assert.ok(ids.includes(id), `figure ${id} in ${ids.join(', ')}`);
  }
  for (const f of figures) for (const s of f.series) assert.ok(s.x.length >= 1 && s.x.length === s.y.length, `${f.id}: series ${s.name} has points`);
  const accuracy = figures.find((f) => f.id === 'accuracy_vs_remaining')!;
  assert.deepEqual(accuracy.series.map((s) => s.name), ['rewind to 5it', 'randomly_reinitialize (rewind to 5it)']);
  // Weights remaining of LeNet-300-100's 266,200 prunable weights under OpenLTH's pruning count
  // (ceil(0.2·n) + 1 a level): 170,366, 212,959 and all of them.
  assert.deepEqual(accuracy.series[0]!.x, [170_366, 212_959, 266_200].map((n) => (n / 266_200) * 100));
  assert.deepEqual(r.pngs, ids.map((id) => join(out, `${id}.png`)));
  for (const png of r.pngs) assertChartDrawn(readFileSync(png), png);
  const html = readFileSync(r.html, 'utf8');
  assert.ok(!/<script[^>]+src=|<link[^>]+stylesheet/.test(html), 'self-contained: no external script or stylesheet');
  assert.ok(html.includes('"accuracy_vs_remaining"'), 'data embedded');
  assert.match(r.summary, new RegExp(`${lottery} \\(rewind to 5it\\)`));
  assert.match(r.summary, /^\s+2\s+64\.00%\s+\d+\.\d\d\s+\d+\.\d\d$/m);
  assert.match(r.summary, /instability \(error barrier\): level 1 replicate 1: \d+\.\d\d points/);
  assert.doesNotMatch(r.summary, /missing/);
  // The same numbers as tables: levels 0–2 of the trunk and the branch's levels 1–2.
  const csv = readFileSync(join(out, 'results.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 3 + 2, csv.join('\n'));
  const level2 = String(170_366 / 266_200).replace('.', '\\.');
  assert.ok(csv.some((row) => new RegExp(`^${lottery},lottery,rewind to 5it,1,2,${level2},5,0\\.\\d+,`).test(row)), csv.join('\n'));
  const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  assert.deepEqual(json.rows.filter((x: { kind: string }) => x.kind === 'branch').map((x: { level: number }) => x.level), [1, 2]);
});

test('report on a partial tree lists what is missing and still renders', { timeout: 120_000 }, async () => {
  const partial = tempDir('earlyphase-report-partial-');
  cpSync(root, partial, { recursive: true, filter: (p) => !p.endsWith('/out') });
  const lottery = readdirSync(partial).find((n) => n.startsWith('lottery_'))!;
  rmSync(join(partial, lottery, 'replicate_1', 'level_2', 'main', 'done.json'));
  const r = await runReport({ folder: join(partial, lottery), out: join(partial, 'out') });
  assert.match(r.summary, new RegExp(`level_2 of ${lottery}/replicate_1 has no done\\.json`));
  assert.ok(existsSync(r.html) && r.pngs.length >= 3);
  const accuracy = buildFigures(collectResults(fsSource(partial), lottery)).find((f) => f.id === 'accuracy_vs_remaining')!;
  assert.deepEqual(accuracy.series[0]!.x, [212_959, 266_200].map((n) => (n / 266_200) * 100), 'the unfinished level is left out of the plot');
});

test('figures from a synthetic tree: pre-training, instability vs. k, rewind point from an epoch-qualified file name', () => {
  const files: Record<string, string> = {};
  const level = (lot: string, rep: number, l: number, acc: number, model: string, barrier?: number) => {
    const d = `${lot}/replicate_${rep}/level_${l}`;
    files[`${d}/main/done.json`] = JSON.stringify({ iteration: 100, testAccuracy: acc });
    files[`${d}/main/metrics.csv`] = 'train_epoch_loss,40,1\ntrain_epoch_loss,80,0.5\n';
    files[`${d}/main/${model}`] = '';
    if (l > 0) files[`${d}/main/sparsity_report.json`] = JSON.stringify({ total: 100, unpruned: 100 * 0.8 ** l });
    if (barrier !== undefined) files[`${d}/instability_abc/instability.json`] = JSON.stringify({ level: l, alphas: [0, 1], errors: [0.1, 0.1], barrier });
  };
  for (const rep of [1, 2]) {
    for (const l of [0, 1]) {
      level('lottery_a', rep, l, 0.8 + 0.01 * rep, 'model_ep0_it0.safetensors', 0.1);
      level('lottery_b', rep, l, 0.85, l === 1 ? 'model_ep1_it3.safetensors' : 'model_ep0_it0.safetensors', 0.02);
    }
    files[`lottery_b/replicate_${rep}/pretrain/main/hparams.json`] = JSON.stringify({ dataset: { unsupervised_labels: 'rotation' }, training: { training_steps: '1ep3it' } });
    files[`lottery_b/replicate_${rep}/pretrain/main/done.json`] = '{"iteration":43,"testAccuracy":0.3}';
  }
  const collected = collectResults(filesSource(files));
  assert.deepEqual(collected.lotteries.map((l) => l.rewindIteration), [0, 43]);
  assert.deepEqual(collected.missing, []);
  const figures = buildFigures(collected);
  const byId = Object.fromEntries(figures.map((f) => [f.id, f]));
  assert.deepEqual(Object.keys(byId), ['accuracy_vs_remaining', 'pretraining', 'instability_vs_level', 'instability_vs_rewind']);
  const a = byId.accuracy_vs_remaining!.series[0]!;
  assert.equal(a.name, 'rewind to 0it');
  assert.deepEqual(a.lo!.map((v) => +v.toFixed(6)), [81, 81]);
  assert.deepEqual(a.hi!.map((v) => +v.toFixed(6)), [82, 82]);
  assert.deepEqual(byId.pretraining!.series.map((s) => [s.name, s.x]), [['rotation labels, 1ep3it', [0, 1]]]);
  assert.deepEqual(byId.instability_vs_rewind!.series.map((s) => [s.name, s.x, s.y.map((v) => +v.toFixed(6))]),
    [['level 0', [0, 43], [10, 2]], ['level 1', [0, 43], [10, 2]]]);
  assert.match(formatSummary(collected), /lottery_b \(rewind to 43it\)/);
});
