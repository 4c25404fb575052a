// Which python3 has PyTorch, for the interop check (runner/tools/interop/check_interop.py). The python3
// first on PATH is often not the system's (pyenv, a venv) and lacks torch while Debian's
// /usr/bin/python3 has it from `apt-get install python3-torch`; so: $EARLYPHASE_PYTHON if set
// (then only it: a named interpreter is never silently replaced), else /usr/bin/python3, else
// python3 on PATH, whichever first imports torch.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CHECK_SCRIPT = fileURLToPath(new URL('./check_interop.py', import.meta.url));
/** OpenLTH's lottery recipe in PyTorch, replaying a run from its exported batches (test/e2e/openlth-replay.test.ts). */
export const REPLAY_SCRIPT = fileURLToPath(new URL('./openlth_replay.py', import.meta.url));
export const INSTALL_HINT = 'install it with `apt-get install python3-torch` (Debian 12: PyTorch 1.13.1), or set EARLYPHASE_PYTHON to a python3 that has torch';

export type TorchPython = { python: string; torch: string } | { reason: string };

/** Seconds `import torch` may take: a cold start on a busy 2-core machine takes several. */
const PROBE_TIMEOUT_MS = 120_000;

/** The torch version `python` imports, or why it cannot (one short phrase). */
export function probeTorch(python: string): { torch: string } | { reason: string } {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS });
  if (r.error) return { reason: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? `${python} not found` : `${python}: ${r.error.message}` };
  if (r.status === 0) return { torch: r.stdout.trim() };
  if (/No module named '?torch'?/.test(r.stderr)) return { reason: `${python} has no torch module` };
  const last = r.stderr.trim().split('\n').at(-1) ?? '';
  return { reason: `${python} -c "import torch" exited ${r.status ?? r.signal}: ${last.slice(0, 160)}` };
}

export function findTorchPython(env: NodeJS.ProcessEnv = process.env): TorchPython {
  const candidates = env.EARLYPHASE_PYTHON ? [env.EARLYPHASE_PYTHON] : ['/usr/bin/python3', 'python3'];
  const reasons: string[] = [];
  for (const python of candidates) {
    const p = probeTorch(python);
    if ('torch' in p) return { python, torch: p.torch };
    reasons.push(p.reason);
  }
  return { reason: `no python3 with PyTorch (${reasons.join('; ')}): ${INSTALL_HINT}` };
}
