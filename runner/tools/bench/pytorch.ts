// PyTorch as a training-step peer: runs pytorch_peer.py (same networks and SGD settings, fp32 with
// TF32 off, CUDA) in a python3 subprocess and parses its JSON lines. PyTorch is optional: when
// python3, torch or a CUDA device is missing the bench prints one reason line instead of rows.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PEER_SCRIPT = fileURLToPath(new URL('./pytorch_peer.py', import.meta.url));

/** One (model, mode, density) measurement of the script. */
export interface PytorchRow {
  model: string;
  mode: string;
  density: number;
  batch: number;
  reps: number;
  /** Each step followed by torch.cuda.synchronize(). */
  latencyMsMedian: number;
  latencyMsBest: number;
  /** `reps` steps back to back, one synchronize at the end. */
  throughputMs: number;
  torch: string;
  device: string;
  driver: string | null;
}

export interface PytorchOptions {
  models: string[];
  densities: number[];
  modes?: string[];
  warmup: number;
  reps: number;
  batch: number;
  /** Whole-script limit; torch.compile of ResNet-20 takes tens of seconds per case. */
  timeoutMs?: number;
  /** Limit for the `import torch` probe. */
  probeTimeoutMs?: number;
}

/** Rows and per-case failures (e.g. torch.compile errors), or why the peer could not run at all. */
export type PytorchResult = { rows: PytorchRow[]; errors: string[] } | { skipped: string };

/** "pytorch 2.11 eager": the peer name of a row in the bench table. */
export function pytorchPeerName(r: PytorchRow): string {
  return `pytorch ${r.torch.split('.').slice(0, 2).join('.')} ${r.mode}`;
}

interface Exit { code: number | null; signal: string | null; stdout: string; stderr: string; spawnError?: NodeJS.ErrnoException; timedOut: boolean }

/** Runs a command to completion, killing it after `timeoutMs`. Never rejects. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<Exit> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', timedOut = false, spawnError: NodeJS.ErrnoException | undefined;
    child.stdout.on('data', (b: Buffer) => { stdout += b; });
    child.stderr.on('data', (b: Buffer) => { stderr += b; });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
      // A grandchild (e.g. a compile worker) may hold the pipes open: stop waiting for them.
      child.stdout.destroy(); child.stderr.destroy();
    }, timeoutMs);
    child.on('error', (e) => { spawnError = e; });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, spawnError, timedOut }); });
  });
}

/** The last lines of a process's stderr as one line, short enough for a terminal. */
function oneLine(stderr: string, max = 300): string {
  const s = stderr.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ');
  return s.length > max ? `…${s.slice(-max)}` : s || '(no stderr)';
}

function failure(what: string, python: string, e: Exit, timeoutMs: number): string {
  if (e.spawnError) return e.spawnError.code === 'ENOENT' ? `${python} not found (set EARLYPHASE_PYTHON)` : `${python}: ${e.spawnError.message}`;
  if (e.timedOut) return `${what} did not finish within ${timeoutMs / 1000} s`;
  return `${what} failed (${e.signal ?? `exit ${e.code}`}): ${oneLine(e.stderr)}`;
}

/** Reason the peer cannot run with `python`, or null when torch imports and sees a CUDA device. */
async function probe(python: string, timeoutMs: number): Promise<string | null> {
  const e = await run(python, ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'], timeoutMs);
  if (e.code === 0) {
    const [version, cuda] = e.stdout.trim().split(/\s+/);
    return cuda === 'True' ? null : `torch ${version} sees no CUDA device (torch.cuda.is_available() is False)`;
  }
  if (/No module named '?torch'?/.test(e.stderr)) return `${python} has no torch module`;
  return failure('`import torch`', python, e, timeoutMs);
}

/** Reads the script's stdout: one JSON object per line (other lines, if a library prints any, are skipped). */
export function parsePeerOutput(stdout: string): { rows: PytorchRow[]; errors: string[] } {
  const rows: PytorchRow[] = [], errors: string[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    const what = `${r.model} ${r.mode} density ${r.density}`;
    if (typeof r.error === 'string') { errors.push(`${what}: ${r.error}`); continue; }
    const num = (k: string) => {
      if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`pytorch peer: ${what}: "${k}" is not a number in ${line}`);
      return r[k];
    };
    rows.push({
      model: String(r.model), mode: String(r.mode), density: num('density'), batch: num('batch'), reps: num('reps'),
      latencyMsMedian: num('latency_ms_median'), latencyMsBest: num('latency_ms_best'), throughputMs: num('throughput_ms'),
      torch: String(r.torch), device: String(r.device), driver: typeof r.driver === 'string' ? r.driver : null,
    });
  }
  return { rows, errors };
}

/** Runs pytorch_peer.py with `args` and parses its lines; the interpreter is $EARLYPHASE_PYTHON or python3. */
async function runPeerScript<T>(args: string[], parse: (stdout: string) => T, timeoutMs: number, probeTimeoutMs = 120_000): Promise<T | { skipped: string }> {
  const python = process.env.EARLYPHASE_PYTHON || 'python3';
  const skipped = (why: string) => ({ skipped: `pytorch peer skipped: ${why}` });
  const why = await probe(python, probeTimeoutMs);
  if (why) return skipped(why);
  const e = await run(python, [PEER_SCRIPT, ...args], timeoutMs);
  if (e.code !== 0) return skipped(failure('pytorch_peer.py', python, e, timeoutMs));
  try {
    return parse(e.stdout);
  } catch (err) {
    return skipped(`unreadable output: ${(err as Error).message}`); // our own timings are already in: keep the run
  }
}

/** Runs the PyTorch training-step peer. */
export function runPytorchPeer(o: PytorchOptions): Promise<PytorchResult> {
  return runPeerScript([
    '--models', o.models.join(','), '--modes', (o.modes ?? ['eager', 'compile']).join(','),
    '--densities', o.densities.join(','), '--warmup', String(o.warmup), '--reps', String(o.reps), '--batch', String(o.batch),
  ], parsePeerOutput, o.timeoutMs ?? 30 * 60_000, o.probeTimeoutMs);
}

/**
 * cuBLAS's square fp32 matmul (torch.mm, TF32 off): per size, each call waited for. fp32PeakTflops:
 * the GPU's FP32 peak (SMs × FP32 lanes × 2 × top SM clock; null where the script cannot tell).
 */
export interface PytorchMatmulRow {
  n: number; latencyMsMedian: number; latencyMsBest: number; reps: number; torch: string; device: string;
  /** ms per call with `reps` calls back to back and one synchronize. */
  throughputMs: number;
  fp32PeakTflops: number | null;
}

export function parseMatmulOutput(stdout: string): { rows: PytorchMatmulRow[]; errors: string[] } {
  const rows: PytorchMatmulRow[] = [], errors: string[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    if (typeof r.error === 'string') { errors.push(`matmul ${r.matmul}: ${r.error}`); continue; }
    const num = (k: string) => {
      if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`pytorch peer: matmul "${k}" is not a number in ${line}`);
      return r[k];
    };
    const peak = r.fp32_peak_tflops;
    rows.push({ n: num('matmul'), latencyMsMedian: num('latency_ms_median'), latencyMsBest: num('latency_ms_best'), reps: num('reps'),
      throughputMs: num('throughput_ms'), torch: String(r.torch), device: String(r.device),
      fp32PeakTflops: typeof peak === 'number' && Number.isFinite(peak) && peak > 0 ? peak : null });
  }
  return { rows, errors };
}

export function runPytorchMatmul(sizes: number[], warmup: number, reps: number): Promise<{ rows: PytorchMatmulRow[]; errors: string[] } | { skipped: string }> {
  return runPeerScript(['--matmul', sizes.join(','), '--warmup', String(warmup), '--reps', String(reps)], parseMatmulOutput, 10 * 60_000);
}
