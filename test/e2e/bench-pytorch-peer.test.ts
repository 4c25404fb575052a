// The real PyTorch peer script (runner/tools/bench/pytorch_peer.py) on the CPU, tiny settings:
// every setting it knows ends as a row or as one skip line saying why (none vanishes), rows carry
// their precision and ≥ 3 rounds, sparse rows only for eager/compile, vmap and K processes time K
// models, and a spent time budget leaves one skip line per case (the running one interrupted). Needs a python3 with torch
// (Debian's python3-torch will do); skipped, saying so, only where none is found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCommand } from '../cli.ts';
import { PEER_SCRIPT, parsePeerOutput } from '../../runner/tools/bench/pytorch.ts';

/** Every setting the script knows (pytorch_settings.py SETTINGS, then its pack modes). */
const SETTINGS = ['eager', 'compile', 'compile-reduce-overhead', 'eager-tf32', 'autocast-bf16', 'autocast-fp16', 'compile-max-autotune'];
const PACK_MODES = ['vmap', 'procs'];

/** The first interpreter that imports torch: $EARLYPHASE_PYTHON, python3, Debian's /usr/bin/python3 (as pytorch.ts looks). */
async function pythonWithTorch(): Promise<{ python: string; version: string } | { tried: string[] }> {
  const tried = [process.env.EARLYPHASE_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of tried) {
    const r = await runCommand(python, ['-c', 'import torch; print(torch.__version__)'], { timeoutMs: 120_000 }).catch(() => null);
    if (r?.status === 0) return { python, version: r.out.trim() };
  }
  return { tried };
}

const found = await pythonWithTorch();
const SKIP = 'tried' in found ? `no python3 with torch (tried ${found.tried.join(', ')}): the real PyTorch peer is not run here` : undefined;
const python = 'python' in found ? found.python : '';

// Tiny, fast cases; --device cpu so the expectations hold on a machine with CUDA too.
const TINY = ['--models', 'mnist_lenet_300_100', '--batch', '16', '--warmup', '1', '--reps', '2', '--rounds', '3', '--min-warmup-s', '0', '--device', 'cpu'];

test('on the CPU every setting is a row or one skip line; rows carry precision and 3 rounds; packs time K models', { skip: SKIP }, async () => {
  const r = await runCommand(python, [PEER_SCRIPT, ...TINY, '--densities', '1,0.5', '--packs', '2'], { timeoutMs: 900_000 });
  assert.equal(r.status, 0, r.err);
  const { rows, errors, skips } = parsePeerOutput(r.out);
  const skipped = (m: string) => skips.filter((s) => s.startsWith(`pytorch ${m} (`));
  for (const m of [...SETTINGS, ...PACK_MODES]) {
    const ran = rows.some((p) => p.mode === m) || errors.some((e) => e.includes(` ${m} `));
    assert.equal(Number(ran) + skipped(m).length, 1, `${m}: exactly one of a row or a skip line (rows: ${rows.map((p) => p.mode)}; skips: ${skips.join(' | ')})`);
  }
  // CUDA-only settings say so on the CPU (or that torch.compile is missing, on torch 1.x).
  for (const m of ['eager-tf32', 'autocast-fp16']) assert.match(skipped(m)[0] ?? '', /CUDA setting \(no CUDA device here\)/, m);
  assert.match(skipped('compile-reduce-overhead')[0] ?? '', /CUDA only|torch\.compile needs torch 2\.0/);
  if (found && 'version' in found && Number(found.version.split('.')[0]) < 2) {
    for (const m of ['compile', 'compile-max-autotune']) assert.match(skipped(m)[0] ?? '', /torch\.compile needs torch 2\.0 or newer/, m);
  }
  assert.deepEqual(errors.filter((e) => !e.includes(' compile')), [], 'only torch.compile may fail on a CPU');
  for (const p of rows) {
    assert.equal(p.device, 'cpu');
    assert.equal(p.roundsMs.length, 3, `${p.mode}: 3 rounds`);
    assert.equal(p.throughputMs, [...p.roundsMs].sort((a, b) => a - b)[1], `${p.mode}: the median round`);
    assert.equal(p.precision, p.mode === 'autocast-bf16' ? 'bf16 mixed' : 'fp32', p.mode);
  }
  const eager = rows.filter((p) => p.mode === 'eager');
  assert.deepEqual(eager.map((p) => p.density), [1, 0.5]);
  // Sparse rows for eager and compile only.
  assert.ok(rows.filter((p) => p.density < 1).every((p) => p.mode === 'eager' || p.mode === 'compile'), JSON.stringify(rows));
  const procs = rows.find((p) => p.mode === 'procs')!;
  assert.equal(procs.members, 2);
  assert.equal(procs.latencyMsMedian, null, 'K processes are timed together only');
  const vmap = rows.find((p) => p.mode === 'vmap');
  if (vmap) assert.equal(vmap.members, 2);
  else assert.match(skipped('vmap')[0]!, /needs torch\.func/);
});

test('a spent time budget leaves one skip line per case, not a killed run', { skip: SKIP }, async () => {
  const r = await runCommand(python, [PEER_SCRIPT, ...TINY, '--modes', 'eager', '--densities', '1,0.5', '--packs', '2', '--pack-modes', 'procs',
    '--budget-s', '0.000001'], { timeoutMs: 300_000 });
  assert.equal(r.status, 0, r.err);
  const { rows, skips } = parsePeerOutput(r.out);
  assert.deepEqual(rows, []);
  const why = "skipped: the peer's time budget (1e-06 s, --budget-s) was spent before this case";
  assert.deepEqual(skips, [
    `pytorch eager (fp32) for mnist_lenet_300_100, density 1 ${why}`,
    `pytorch eager (fp32) for mnist_lenet_300_100, density 0.5 ${why}`,
    `pytorch procs (fp32) for mnist_lenet_300_100, 2 models, density 1 ${why}`,
  ]);
});

test('a case still running when the budget ends is interrupted and says so; the script does not wait for it', { skip: SKIP }, async () => {
  // 100,000 steps would take hours: the 3 s budget interrupts the first case.
  const r = await runCommand(python, [PEER_SCRIPT, ...TINY, '--modes', 'eager', '--densities', '1,0.5', '--reps', '100000', '--budget-s', '3'],
    { timeoutMs: 300_000 });
  assert.equal(r.status, 0, r.err);
  assert.ok(r.seconds < 60, `the script ran ${r.seconds} s`);
  const { rows, errors, skips } = parsePeerOutput(r.out);
  assert.deepEqual([rows, errors], [[], []]);
  assert.deepEqual(skips, [
    "pytorch eager (fp32) for mnist_lenet_300_100, density 1 skipped: the peer's time budget (3 s, --budget-s) ended during this case",
    "pytorch eager (fp32) for mnist_lenet_300_100, density 0.5 skipped: the peer's time budget (3 s, --budget-s) was spent before this case",
  ]);
});

test('an unknown setting is refused by name', { skip: SKIP }, async () => {
  const r = await runCommand(python, [PEER_SCRIPT, ...TINY, '--modes', 'eager,cudagraphs'], { timeoutMs: 300_000 });
  assert.equal(r.status, 2);
  assert.match(r.err, /unknown model or mode: cudagraphs \(models: .*modes: eager, compile, compile-reduce-overhead, eager-tf32, autocast-bf16, autocast-fp16, compile-max-autotune; pack modes: vmap, procs\)/);
});
