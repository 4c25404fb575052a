// The PyTorch peer of `bench --suite training` without PyTorch: fake interpreters (sh scripts in a
// temp dir, chosen through EARLYPHASE_PYTHON) stand in for python3 with and without torch, so the
// skip reasons, the arguments passed to the script and the parsing of its JSON lines are checked
// on any machine. The script itself is checked to compile when a python3 is present.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCommand } from '../cli.ts';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('a missing interpreter, or torch without CUDA, skips the peer with its reason', async () => {
  const missing = join(dir, 'no-such-python');
  assert.deepEqual(await withPython(missing, () => runPytorchPeer(OPTS)), { skipped: `pytorch peer skipped: ${missing} not found (set EARLYPHASE_PYTHON)` });
  const cpuOnly = fakePython('cpuonly', 'echo "2.11.0+cpu False"; exit 0');
  assert.deepEqual(await withPython(cpuOnly, () => runPytorchPeer(OPTS)),
    { skipped: 'pytorch peer skipped: torch 2.11.0+cpu sees no CUDA device (torch.cuda.is_available() is False)' });
});

// Two records as the script printed them on an H200 (numbers cut short), a compile failure, and a
// stray non-JSON line that a library might print.
const CANNED = [
  '{"model": "mnist_lenet_300_100", "mode": "eager", "density": 1.0, "batch": 128, "torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": "580.159.04", "reps": 20, "latency_ms_median": 1.2016, "latency_ms_best": 0.6837, "throughput_ms": 0.8904, "loss": 2.2034}',
  'some library chatter',
  '{"model": "cifar_resnet_20", "mode": "compile", "density": 0.2, "batch": 128, "torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": null, "reps": 20, "latency_ms_median": 6.8813, "latency_ms_best": 6.0460, "throughput_ms": 7.1844, "loss": 2.2297}',
  '{"model": "cifar_resnet_20", "mode": "compile", "density": 1.0, "batch": 128, "torch": "2.11.0+cu130", "cuda": "13.0", "device": "NVIDIA H200", "driver": null, "error": "BackendCompilerFailed: inductor raised"}',
];

test('the script gets the bench settings and its JSON lines become rows and errors', async () => {
  const argsFile = join(dir, 'args.txt');
  const python = fakePython('canned', 'echo "2.11.0+cu130 True"; exit 0',
    `printf '%s\\n' "$@" > ${argsFile}\ncat <<'EOF'\n${CANNED.join('\n')}\nEOF`);
  const r = await withPython(python, () => runPytorchPeer(OPTS));
  assert.deepEqual(readFileSync(argsFile, 'utf8').trim().split('\n'), [PEER_SCRIPT, '--models', 'mnist_lenet_300_100,cifar_resnet_20',
    '--modes', 'eager,compile', '--densities', '1,0.2', '--warmup', '3', '--reps', '20', '--batch', '128']);
  assert.ok(!('skipped' in r), JSON.stringify(r));
  assert.deepEqual(r.errors, ['cifar_resnet_20 compile density 1: BackendCompilerFailed: inductor raised']);
  assert.deepEqual(r.rows, [
    { model: 'mnist_lenet_300_100', mode: 'eager', density: 1, batch: 128, reps: 20, latencyMsMedian: 1.2016, latencyMsBest: 0.6837,
      throughputMs: 0.8904, torch: '2.11.0+cu130', device: 'NVIDIA H200', driver: '580.159.04' },
    { model: 'cifar_resnet_20', mode: 'compile', density: 0.2, batch: 128, reps: 20, latencyMsMedian: 6.8813, latencyMsBest: 6.046,
      throughputMs: 7.1844, torch: '2.11.0+cu130', device: 'NVIDIA H200', driver: null },
  ]);
  assert.equal(pytorchPeerName(r.rows[0]!), 'pytorch 2.11 eager');
  assert.equal(pytorchPeerName(r.rows[1]!), 'pytorch 2.11 compile');
});

test('a malformed record skips the peer instead of inventing a row', async () => {
  const python = fakePython('badrow', 'echo "2.11.0 True"; exit 0',
    `echo '{"model": "cifar_resnet_20", "mode": "eager", "density": 1, "batch": 128, "reps": 5, "latency_ms_median": "fast"}'`);
  const r = await withPython(python, () => runPytorchPeer(OPTS));
  assert.ok('skipped' in r && /unreadable output: .*"latency_ms_median" is not a number/.test(r.skipped), JSON.stringify(r));
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
    ratio: 6.4 / 8, throughputMs: { ours: 8, peer: 6.4 },
    training: { batch: 128, dispatchesPerStep: 273, submitsPerStep: 1, asyncReadbacksPerStep: 1, blockingReadbacksPerStep: 0, gpuBytes: 2 ** 21, gpuBytesByKind: {} },
  }]).split('\n');
  assert.match(lines[0]!, /ours latency ms\s+ours ms\/step\s+ours img\/s\s+peer latency ms\s+peer ms\/step\s+peer img\/s\s+peer\s+ours\/peer/);
  assert.match(lines[2]!, /9\.50 \(best 9\.00\)\s+8\.00\s+16000\s+6\.20 \(best 5\.90\)\s+6\.40\s+20000\s+pytorch 2\.11 eager\s+0\.80x\s+273\/1\/1 async/);
});

test('pytorch_peer.py compiles', async (t) => {
  if (!hasPython3) { t.skip('python3 is not on PATH'); return; }
  // The bytecode goes to a temp dir, not a __pycache__ beside the script.
  const r = await runCommand('python3', ['-m', 'py_compile', PEER_SCRIPT], { env: { PYTHONPYCACHEPREFIX: join(dir, 'pycache') }, timeoutMs: 60_000 });
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
