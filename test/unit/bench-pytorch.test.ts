// The PyTorch peer of `bench --suite training` without PyTorch: fake interpreters (sh scripts in a
// temp dir, chosen through EARLYPHASE_PYTHON) stand in for python3 with and without torch, so the
// skip reasons, the arguments passed to the script and the parsing of its JSON lines are checked
// on any machine. The script itself is checked to compile when a python3 is present.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCommand } from '../cli.ts';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PEER_SCRIPT, type PytorchOptions, pytorchPeerName, runPytorchMatmul, runPytorchPeer } from '../../runner/tools/bench/pytorch.ts';
import { formatBenchTable, parsePeers } from '../../runner/tools/bench/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'earlyphase-pytorch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const OPTS: PytorchOptions = { models: ['mnist_lenet_300_100', 'cifar_resnet_20'], densities: [1, 0.2], warmup: 3, reps: 20, batch: 128 };

/** Writes an executable sh script; `probe` answers `python -c …`, `script` answers the peer script run. */
function fakePython(name: string, probe: string, script = 'exit 0'): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nif [ "$1" = "-c" ]; then\n${probe}\nfi\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

async function withPython<T>(python: string, f: () => Promise<T>): Promise<T> {
  const saved = process.env.EARLYPHASE_PYTHON;
  process.env.EARLYPHASE_PYTHON = python;
  try {
    return await f();
  } finally {
    if (saved === undefined) delete process.env.EARLYPHASE_PYTHON; else process.env.EARLYPHASE_PYTHON = saved;
  }
}

const hasPython3 = (await runCommand('python3', ['--version']).catch(() => null))?.status === 0;

test('a python without torch skips the peer with one line', async () => {
  // What CPython prints for `import torch` when torch is not installed.
  const python = fakePython('notorch', `echo 'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nModuleNotFoundError: No module named '"'torch'"'' >&2; exit 1`);
  const r = await withPython(python, () => runPytorchPeer(OPTS));
  assert.deepEqual(r, { skipped: `pytorch peer skipped: ${python} has no torch module` });
});

test('the real python3 without site-packages skips the peer as having no torch', async (t) => {
  if (!hasPython3) { t.skip('python3 is not on PATH'); return; }
  const isolated = fakePython('isolated', 'exec python3 -I -S "$@"');
  const r = await withPython(isolated, () => runPytorchPeer(OPTS));
  assert.deepEqual(r, { skipped: `pytorch peer skipped: ${isolated} has no torch module` });
});

// Records as the script prints them (numbers cut short): skip lines first, rows of each precision,
// a pack row of each kind, a compile failure, and a stray non-JSON line that a library might print.
const INFO = '"torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": "580.159.04"';
const CANNED = [
  '{"mode": "compile-max-autotune", "precision": "fp32", "skipped": "torch.compile needs torch 2.0 or newer (this is 1.13.0)"}',
  `{"model": "mnist_lenet_300_100", "mode": "eager", "precision": "fp32", "members": 1, "density": 1.0, "batch": 128, ${INFO}, "reps": 20, "latency_ms_median": 1.2016, "latency_ms_best": 0.6837, "rounds_ms": [0.9, 0.8904, 1.1], "throughput_ms": 0.8904, "loss": 2.2034}`,
  'some library chatter',
  `{"model": "cifar_resnet_20", "mode": "autocast-bf16", "precision": "bf16 mixed", "members": 1, "density": 1.0, "batch": 128, ${INFO}, "reps": 20, "latency_ms_median": 3.1, "latency_ms_best": 3.0, "rounds_ms": [2.9, 3.0, 3.2], "throughput_ms": 3.0, "loss": 2.3}`,
  `{"model": "cifar_resnet_20", "mode": "vmap", "precision": "fp32", "members": 8, "density": 1.0, "batch": 128, ${INFO}, "reps": 20, "latency_ms_median": 30, "latency_ms_best": 29, "rounds_ms": [28, 29, 31], "throughput_ms": 29, "loss": 2.3}`,
  `{"model": "cifar_resnet_20", "mode": "procs", "precision": "fp32", "members": 8, "density": 1.0, "batch": 128, ${INFO}, "reps": 20, "rounds_ms": [40, 41, 45], "throughput_ms": 41}`,
  `{"model": "cifar_resnet_20", "mode": "compile", "precision": "fp32", "members": 1, "density": 1.0, "batch": 128, ${INFO}, "error": "BackendCompilerFailed: inductor raised"}`,
  `{"model": "cifar_resnet_20", "mode": "procs", "precision": "fp32", "members": 16, "density": 1.0, "batch": 128, ${INFO}, "skipped": "the peer's time budget (1200 s, --budget-s) was spent before this case"}`,
];
const CANNED_CPU = CANNED[1]!.replace(INFO, '"torch": "2.11.0+cpu", "cuda": null, "device": "cpu", "driver": null, "threads": 2');

test('a missing interpreter skips the peer; torch without CUDA runs the training peer on the CPU and skips cuBLAS', async () => {
  const missing = join(dir, 'no-such-python');
  assert.deepEqual(await withPython(missing, () => runPytorchPeer(OPTS)), { skipped: `pytorch peer skipped: ${missing} not found (set EARLYPHASE_PYTHON)` });
  const cpuOnly = fakePython('cpuonly', 'echo "2.11.0+cpu False"; exit 0', `cat <<'EOF'\n${CANNED_CPU}\nEOF`);
  const r = await withPython(cpuOnly, () => runPytorchPeer(OPTS));
  assert.ok(!('skipped' in r), JSON.stringify(r));
  assert.deepEqual(r.rows.map(pytorchPeerName), ['pytorch 2.11 eager (fp32, cpu)']);
  assert.deepEqual(await withPython(cpuOnly, () => runPytorchMatmul([1024], 1, 1)),
    { skipped: 'pytorch peer skipped: torch 2.11.0+cpu sees no CUDA device (torch.cuda.is_available() is False)' });
});

test('the script gets the bench settings; its JSON lines become rows of each precision, errors and skip lines', async () => {
  const argsFile = join(dir, 'args.txt');
  const python = fakePython('canned', 'echo "2.11.0+cu130 True"; exit 0',
    `printf '%s\\n' "$@" > ${argsFile}\ncat <<'EOF'\n${CANNED.join('\n')}\nEOF`);
  const r = await withPython(python, () => runPytorchPeer({ ...OPTS, packs: [8, 16] }));
  assert.deepEqual(readFileSync(argsFile, 'utf8').trim().split('\n'), [PEER_SCRIPT, '--models', 'mnist_lenet_300_100,cifar_resnet_20',
    '--densities', '1,0.2', '--packs', '8,16', '--warmup', '3', '--reps', '20', '--rounds', '3', '--batch', '128', '--budget-s', '1200']);
  assert.ok(!('skipped' in r), JSON.stringify(r));
  assert.deepEqual(r.skips, [
    'pytorch compile-max-autotune (fp32) skipped: torch.compile needs torch 2.0 or newer (this is 1.13.0)',
    "pytorch procs (fp32) for cifar_resnet_20, 16 models, density 1 skipped: the peer's time budget (1200 s, --budget-s) was spent before this case",
  ]);
  assert.deepEqual(r.errors, ['cifar_resnet_20 compile density 1: BackendCompilerFailed: inductor raised']);
  const common = { batch: 128, reps: 20, torch: '2.11.0+cu130', device: 'NVIDIA H200', driver: '580.159.04' };
  assert.deepEqual(r.rows, [
    { model: 'mnist_lenet_300_100', mode: 'eager', precision: 'fp32', members: 1, density: 1, latencyMsMedian: 1.2016, latencyMsBest: 0.6837,
      roundsMs: [0.9, 0.8904, 1.1], throughputMs: 0.8904, ...common },
    { model: 'cifar_resnet_20', mode: 'autocast-bf16', precision: 'bf16 mixed', members: 1, density: 1, latencyMsMedian: 3.1, latencyMsBest: 3,
      roundsMs: [2.9, 3, 3.2], throughputMs: 3, ...common },
    { model: 'cifar_resnet_20', mode: 'vmap', precision: 'fp32', members: 8, density: 1, latencyMsMedian: 30, latencyMsBest: 29,
      roundsMs: [28, 29, 31], throughputMs: 29, ...common },
    // K processes are only timed together: no latency.
    { model: 'cifar_resnet_20', mode: 'procs', precision: 'fp32', members: 8, density: 1, latencyMsMedian: null, latencyMsBest: null,
      roundsMs: [40, 41, 45], throughputMs: 41, ...common },
  ]);
  assert.deepEqual(r.rows.map(pytorchPeerName), ['pytorch 2.11 eager (fp32)', 'pytorch 2.11 autocast-bf16 (bf16 mixed)',
    'pytorch 2.11 vmap of 8 (fp32)', 'pytorch 2.11 8 processes (fp32)']);
});

test('EARLYPHASE_PYTORCH_BUDGET_S sets the script\'s budget; a script killed after some rows keeps them and says the rest is missing', async () => {
  const argsFile = join(dir, 'budget-args.txt');
  const python = fakePython('partial', 'echo "2.11.0+cu130 True"; exit 0',
    `printf '%s\\n' "$@" > ${argsFile}\necho '${CANNED[1]}'\nexec sleep 30`);
  const saved = process.env.EARLYPHASE_PYTORCH_BUDGET_S;
  process.env.EARLYPHASE_PYTORCH_BUDGET_S = '90';
  try {
    const r = await withPython(python, () => runPytorchPeer({ ...OPTS, timeoutMs: 2000 }));
    assert.ok(readFileSync(argsFile, 'utf8').includes('--budget-s\n90\n'));
    assert.ok(!('skipped' in r), JSON.stringify(r));
    assert.deepEqual(r.rows.map((p) => p.mode), ['eager']);
    assert.deepEqual(r.skips, ['pytorch peer stopped: pytorch_peer.py did not finish within 2 s; the cases after its last row are missing']);
  } finally {
    if (saved === undefined) delete process.env.EARLYPHASE_PYTORCH_BUDGET_S; else process.env.EARLYPHASE_PYTORCH_BUDGET_S = saved;
  }
});

test('a malformed record skips the peer instead of inventing a row', async () => {
  const python = fakePython('badrow', 'echo "2.11.0 True"; exit 0',
    `echo '{"model": "cifar_resnet_20", "mode": "eager", "precision": "fp32", "density": 1, "batch": 128, "reps": 5, "latency_ms_median": "fast", "rounds_ms": [1, 2, 3], "throughput_ms": 2}'`);
  const r = await withPython(python, () => runPytorchPeer(OPTS));
  assert.ok('skipped' in r && /unreadable output: .*"latency_ms_median" is not a number/.test(r.skipped), JSON.stringify(r));
  // A row without its precision could be paired with ours wrongly: refused too.
  const noPrecision = fakePython('noprecision', 'echo "2.11.0 True"; exit 0', `echo '${CANNED[1]!.replace('"precision": "fp32", ', '')}'`);
  const n = await withPython(noPrecision, () => runPytorchPeer(OPTS));
  assert.ok('skipped' in n && /unreadable output: .*unknown precision undefined/.test(n.skipped), JSON.stringify(n));
  const noRounds = fakePython('norounds', 'echo "2.11.0 True"; exit 0', `echo '${CANNED[1]!.replace('"rounds_ms": [0.9, 0.8904, 1.1], ', '')}'`);
  const m = await withPython(noRounds, () => runPytorchPeer(OPTS));
  assert.ok('skipped' in m && /unreadable output: .*"rounds_ms" is not a list of numbers/.test(m.skipped), JSON.stringify(m));
});

test('a script that crashes after some rows keeps them and says why the rest is missing', async () => {
  const python = fakePython('crashing', 'echo "2.11.0+cu130 True"; exit 0', `echo '${CANNED[1]}'\necho 'Segmentation fault' >&2\nexit 139`);
  const r = await withPython(python, () => runPytorchPeer(OPTS));
  assert.ok(!('skipped' in r), JSON.stringify(r));
  assert.deepEqual(r.rows.map((p) => p.mode), ['eager']);
  assert.deepEqual(r.skips, ['pytorch peer stopped: pytorch_peer.py failed (exit 139): Segmentation fault; the cases after its last row are missing']);
});

test('a failing script is one truncated line of its stderr; a hanging one times out', async () => {
  const long = 'x'.repeat(1000);
  const failing = fakePython('failing', 'echo "2.11.0 True"; exit 0', `printf 'Traceback\\n  File "p.py"\\nRuntimeError: CUDA error: out of memory ${long}\\n' >&2; exit 3`);
  const r = await withPython(failing, () => runPytorchPeer(OPTS));
  assert.ok('skipped' in r, JSON.stringify(r));
  assert.match(r.skipped, /^pytorch peer skipped: pytorch_peer\.py failed \(exit 3\): …/);
  assert.ok(!r.skipped.includes('\n') && r.skipped.length < 400, r.skipped);
  const hanging = fakePython('hanging', 'echo "2.11.0 True"; exit 0', 'exec sleep 30');
  const t0 = performance.now();
  const h = await withPython(hanging, () => runPytorchPeer({ ...OPTS, timeoutMs: 300 }));
  assert.deepEqual(h, { skipped: 'pytorch peer skipped: pytorch_peer.py did not finish within 0.3 s' });
  assert.ok(performance.now() - t0 < 10_000, 'the hanging script was not killed');
});

test('bench --peer accepts tfjs and pytorch and names the known peers otherwise', () => {
  assert.deepEqual(parsePeers(['tfjs', 'pytorch', 'tfjs']), ['tfjs', 'pytorch']);
  assert.throws(() => parsePeers(['torch']), /bench --peer: unknown peer torch \(known: tfjs, pytorch\)/);
  assert.throws(() => parsePeers([]), /no peer given/);
});

test('a PyTorch training row: latency and throughput columns, ratio from throughputs', () => {
  const lines = formatBenchTable([{
    suite: 'training', case: 'cifar_resnet_20 b128 dense', flops: 0,
    ours: { minMs: 9, medianMs: 9.5, reps: 10 }, peer: { minMs: 5.9, medianMs: 6.2, reps: 20 }, peerName: 'pytorch 2.11 eager',
    ratio: 6.4 / 8, throughputMs: { ours: 8, peer: 6.4 }, peerRoundsMs: [6.1, 6.4, 7.25],
    training: { batch: 128, dispatchesPerStep: 273, submitsPerStep: 1, asyncReadbacksPerStep: 1, blockingReadbacksPerStep: 0, gpuBytes: 2 ** 21, gpuBytesByKind: {} },
  }]).split('\n');
  assert.match(lines[0]!, /ours latency ms\s+ours ms\/step\s+ours img\/s\s+peer latency ms\s+peer ms\/step\s+peer img\/s\s+peer\s+ours\/peer/);
  // The peer's ms/step is the median of its rounds, the fastest and slowest round beside it.
  assert.match(lines[2]!, /9\.50 \(best 9\.00\)\s+8\.00\s+16000\s+6\.20 \(best 5\.90\)\s+6\.40 \(6\.10–7\.25\)\s+20000\s+pytorch 2\.11 eager\s+0\.80x\s+273\/1\/1 async/);
});

test('pytorch_peer.py and its modules compile', async (t) => {
  if (!hasPython3) { t.skip('python3 is not on PATH'); return; }
  // The bytecode goes to a temp dir, not a __pycache__ beside the script.
  const modules = ['pytorch_peer', 'pytorch_models', 'pytorch_settings', 'pytorch_packs', 'pytorch_kernels'].map((m) => join(dirname(PEER_SCRIPT), `${m}.py`));
  const r = await runCommand('python3', ['-m', 'py_compile', ...modules], { env: { PYTHONPYCACHEPREFIX: join(dir, 'pycache') }, timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.err);
});

test('the matmul peer gets the sizes and its JSON lines become cuBLAS rows and errors', async () => {
  const argsFile = join(dir, 'matmul-args.txt');
  const lines = [
    '{"matmul": 1024, "torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": null, "fp32_peak_tflops": 66.9, "sms": 132, "reps": 5, "latency_ms_median": 0.061, "latency_ms_best": 0.058, "throughput_ms": 0.05}',
    '{"matmul": 2048, "torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": null, "reps": 5, "latency_ms_median": 0.4, "latency_ms_best": 0.38, "throughput_ms": 0.37}',
    '{"matmul": 4096, "torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": null, "error": "OutOfMemoryError: CUDA out of memory"}',
  ];
  const python = fakePython('matmul', 'echo "2.11.0+cu130 True"; exit 0',
    `printf '%s\\n' "$@" > ${argsFile}\ncat <<'EOF'\n${lines.join('\n')}\nEOF`);
  const r = await withPython(python, () => runPytorchMatmul([1024, 4096], 2, 5));
  assert.deepEqual(readFileSync(argsFile, 'utf8').trim().split('\n'), [PEER_SCRIPT, '--matmul', '1024,4096', '--warmup', '2', '--reps', '5']);
  assert.ok(!('skipped' in r), JSON.stringify(r));
  assert.deepEqual(r.rows, [
    { n: 1024, latencyMsMedian: 0.061, latencyMsBest: 0.058, reps: 5, throughputMs: 0.05, torch: '2.11.0+cu130', device: 'NVIDIA H200', fp32PeakTflops: 66.9 },
    // No peak where the script could not tell (unknown compute capability, no nvidia-smi).
    { n: 2048, latencyMsMedian: 0.4, latencyMsBest: 0.38, reps: 5, throughputMs: 0.37, torch: '2.11.0+cu130', device: 'NVIDIA H200', fp32PeakTflops: null },
  ]);
  assert.deepEqual(r.errors, ['matmul 4096: OutOfMemoryError: CUDA out of memory']);
});
