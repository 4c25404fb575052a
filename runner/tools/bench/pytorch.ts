// PyTorch as a training-step peer: runs pytorch_peer.py (same networks and SGD settings, every
// setting of pytorch_settings.py the machine supports: fp32 eager, TF32, autocast bf16/fp16,
// torch.compile's three modes; with packs, K models by vmap and K processes) in a python3
// subprocess and parses its JSON lines. On CUDA when torch sees a device, on the CPU otherwise
// (rows say so). PyTorch is optional: when python3 or torch is missing the bench prints one reason
// line instead of rows, and each setting this machine cannot run prints its own skip line.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PEER_SCRIPT = fileURLToPath(new URL('./pytorch_peer.py', import.meta.url));

/** What a row's arithmetic is: a ratio against ours pairs equal precisions only. */
export type Precision = 'fp32' | 'tf32' | 'bf16 mixed' | 'fp16 mixed';
const PRECISIONS: readonly string[] = ['fp32', 'tf32', 'bf16 mixed', 'fp16 mixed'];

/** One (model, mode, density) or (model, pack mode, K) measurement of the script. */
export interface PytorchRow {
  model: string;
  /** A setting of pytorch_settings.py ("eager", "compile-max-autotune", …) or a pack mode ("vmap", "procs"). */
  mode: string;
  precision: Precision;
  /** Models trained per step: 1, or K for vmap/procs (their ms/step is for all K). */
  members: number;
  density: number;
  batch: number;
  reps: number;
  /** Each step followed by a synchronize; null for procs (K processes are only timed together). */
  latencyMsMedian: number | null;
  latencyMsBest: number | null;
  /** Each round: `reps` steps back to back, one synchronize at the end (ms/step). */
  roundsMs: number[];
  /** The median of roundsMs. */
  throughputMs: number;
  torch: string;
  /** The GPU's name, or "cpu". */
  device: string;
  driver: string | null;
}

export interface PytorchOptions {
  models: string[];
  densities: number[];
  /** Settings to time (default: the script's, all of them). */
  modes?: string[];
  /** K models at once (vmap and K processes); none by default. */
  packs?: number[];
  warmup: number;
  reps: number;
  /** Rounds of `reps` steps back to back: the spread (≥ 3 in the bench). */
  rounds?: number;
  batch: number;
  /** Warm-up lasts at least this long (the script's default is 1 s; tests pass 0). */
  minWarmupS?: number;
  /** Whole-script limit; torch.compile of ResNet-20 takes tens of seconds per case. */
  timeoutMs?: number;
  /** Limit for the `import torch` probe. */
  probeTimeoutMs?: number;
}

/**
 * Rows, per-case failures (e.g. torch.compile errors) and one line per setting skipped here, or
 * why the peer could not run at all.
 */
export type PytorchResult = { rows: PytorchRow[]; errors: string[]; skips: string[] } | { skipped: string };

/** "pytorch 2.11 eager (fp32)", "pytorch 1.13 vmap of 8 (fp32, cpu)": the peer name of a row in the bench table. */
export function pytorchPeerName(r: PytorchRow): string {
  const what = r.mode === 'vmap' ? `vmap of ${r.members}` : r.mode === 'procs' ? `${r.members} process${r.members === 1 ? '' : 'es'}` : r.mode;
  return `pytorch ${r.torch.split('.').slice(0, 2).join('.')} ${what} (${r.precision}${r.device === 'cpu' ? ', cpu' : ''})`;
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

/** The interpreter and what its torch sees, or why it cannot run the peer. */
type Probe = { python: string; version: string; cuda: boolean } | { why: string };

async function probeOne(python: string, timeoutMs: number): Promise<Probe> {
  const e = await run(python, ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available())'], timeoutMs);
  if (e.code === 0) {
    const [version = '?', cuda] = e.stdout.trim().split(/\s+/);
    return { python, version, cuda: cuda === 'True' };
  }
  if (/No module named '?torch'?/.test(e.stderr)) return { why: `${python} has no torch module` };
  return { why: failure('`import torch`', python, e, timeoutMs) };
}

/**
 * $EARLYPHASE_PYTHON when set; otherwise python3, and Debian's /usr/bin/python3 (where the
 * python3-torch package installs) when the python3 on PATH (a pyenv, a venv) has no torch.
 */
async function probe(timeoutMs: number): Promise<Probe> {
  const chosen = process.env.EARLYPHASE_PYTHON;
  if (chosen) return probeOne(chosen, timeoutMs);
  const first = await probeOne('python3', timeoutMs);
  if (!('why' in first) || !first.why.endsWith('has no torch module')) return first;
  const system = await probeOne('/usr/bin/python3', timeoutMs);
  return 'why' in system ? first : system;
}

const num = (r: Record<string, unknown>, k: string, line: string, what: string): number => {
  if (typeof r[k] !== 'number' || !Number.isFinite(r[k])) throw new Error(`pytorch peer: ${what}: "${k}" is not a number in ${line}`);
  return r[k];
};

/**
 * Reads the script's stdout: one JSON object per line (other lines, if a library prints any, are
 * skipped): rows, errors ("model mode density: why") and skips ("pytorch mode (precision) skipped: why").
 */
export function parsePeerOutput(stdout: string): { rows: PytorchRow[]; errors: string[]; skips: string[] } {
  const rows: PytorchRow[] = [], errors: string[] = [], skips: string[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as Record<string, unknown>;
    const members = typeof r.members === 'number' ? r.members : 1;
    const what = `${r.model} ${r.mode}${members > 1 ? ` of ${members}` : ''} density ${r.density}`;
    if (typeof r.skipped === 'string') {
      // A setting this machine lacks (one line for all models), or one case the time budget left out.
      const which = r.model === undefined ? '' : ` for ${r.model}${members > 1 ? `, ${members} models` : ''}, density ${r.density}`;
      skips.push(`pytorch ${r.mode} (${r.precision})${which} skipped: ${r.skipped}`);
      continue;
    }
    if (typeof r.error === 'string') { errors.push(`${what}: ${r.error}`); continue; }
    const n = (k: string) => num(r, k, line, what);
    if (!PRECISIONS.includes(String(r.precision))) throw new Error(`pytorch peer: ${what}: unknown precision ${JSON.stringify(r.precision)} in ${line}`);
    const rounds = r.rounds_ms;
    if (!Array.isArray(rounds) || rounds.length === 0 || !rounds.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(`pytorch peer: ${what}: "rounds_ms" is not a list of numbers in ${line}`);
    }
    // procs rows have no latency: K processes are only timed together.
    const latency = r.latency_ms_median === undefined && r.mode === 'procs' ? null : { median: n('latency_ms_median'), best: n('latency_ms_best') };
    rows.push({
      model: String(r.model), mode: String(r.mode), precision: r.precision as Precision, members, density: n('density'), batch: n('batch'), reps: n('reps'),
      latencyMsMedian: latency?.median ?? null, latencyMsBest: latency?.best ?? null, roundsMs: rounds as number[], throughputMs: n('throughput_ms'),
      torch: String(r.torch), device: String(r.device), driver: typeof r.driver === 'string' ? r.driver : null,
    });
  }
  return { rows, errors, skips };
}

/**
 * Runs pytorch_peer.py with `args` and parses its lines. `needsCuda`: a peer that is nothing
 * without CUDA (cuBLAS) is skipped where torch sees no device; the training peer runs on the CPU.
 * `partial`: what to make of the lines a script printed before it was killed at `timeoutMs` or
 * failed (null: nothing worth keeping).
 */
async function runPeerScript<T>(args: string[], parse: (stdout: string) => T, timeoutMs: number, needsCuda: boolean,
  probeTimeoutMs = 120_000, partial: (stdout: string, why: string) => T | null = () => null): Promise<T | { skipped: string }> {
  const skipped = (why: string) => ({ skipped: `pytorch peer skipped: ${why}` });
  const p = await probe(probeTimeoutMs);
  if ('why' in p) return skipped(p.why);
  if (needsCuda && !p.cuda) return skipped(`torch ${p.version} sees no CUDA device (torch.cuda.is_available() is False)`);
  const e = await run(p.python, [PEER_SCRIPT, ...args], timeoutMs);
  try {
    if (e.code === 0) return parse(e.stdout);
    // Killed at the deadline or crashed (a native fault in a compiler, say): keep what it finished.
    const why = failure('pytorch_peer.py', p.python, e, timeoutMs);
    return partial(e.stdout, why) ?? skipped(why);
  } catch (err) {
    return skipped(`unreadable output: ${(err as Error).message}`); // our own timings are already in: keep the run
  }
}

/**
 * The script's time budget in seconds: $EARLYPHASE_PYTORCH_BUDGET_S, by default 20 minutes. The
 * script interrupts the case running when it ends and prints a skip line for it and for each case
 * left, so its rows come back; it is killed 3 minutes after that (start-up, K processes ending).
 */
export function peerBudgetS(): number {
  const v = Number(process.env.EARLYPHASE_PYTORCH_BUDGET_S);
  return Number.isFinite(v) && v > 0 ? v : 1200;
}

/** Runs the PyTorch training-step peer. */
export function runPytorchPeer(o: PytorchOptions): Promise<PytorchResult> {
  const budgetS = peerBudgetS();
  return runPeerScript([
    '--models', o.models.join(','), ...(o.modes ? ['--modes', o.modes.join(',')] : []), '--densities', o.densities.join(','),
    ...(o.packs?.length ? ['--packs', o.packs.join(',')] : []), '--warmup', String(o.warmup), '--reps', String(o.reps),
    '--rounds', String(o.rounds ?? 3), '--batch', String(o.batch), '--budget-s', String(budgetS),
    ...(o.minWarmupS !== undefined ? ['--min-warmup-s', String(o.minWarmupS)] : []),
  ], parsePeerOutput, o.timeoutMs ?? (budgetS + 180) * 1000, false, o.probeTimeoutMs, (stdout, why) => {
    // Killed mid-case: the rows it finished stand, and one line says the rest is missing.
    const r = parsePeerOutput(stdout);
    return r.rows.length ? { ...r, skips: [...r.skips, `pytorch peer stopped: ${why}; the cases after its last row are missing`] } : null;
  });
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
  return runPeerScript(['--matmul', sizes.join(','), '--warmup', String(warmup), '--reps', String(reps)], parseMatmulOutput, 10 * 60_000, true);
}
