#!/usr/bin/env node
// The `earlyphase` executable: registers tsx so the TypeScript CLI runs without a build step.
// Unless --verbose is given, the CLI runs as a child process whose stderr passes through
// runner/stderr-filter.mjs, which drops Dawn's native limit warnings (they cannot be silenced from
// JavaScript). The child is told whether stderr is a terminal (EARLYPHASE_STDERR_TTY) so the
// progress bar still shows, gets the signals sent to this process, and dies with it.
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { dawnWarningFilter } from './stderr-filter.mjs';

const CHILD = 'EARLYPHASE_STDERR_FILTERED';
if (process.env[CHILD] || process.argv.includes('--verbose')) {
  if (process.env[CHILD]) watchParent(Number(process.env[CHILD]));
  const { register } = await import('tsx/esm/api');
  register();
  await import('./cli/cli.ts');
} else {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, [CHILD]: String(process.pid), EARLYPHASE_STDERR_TTY: process.stderr.isTTY ? '1' : '' },
  });
  const filter = dawnWarningFilter((s) => process.stderr.write(s));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => filter.push(s));
  // Ctrl-C reaches the child through the terminal's process group; other signals are passed on.
  process.on('SIGINT', () => {});
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => {
    filter.end();
    if (signal) { process.removeAllListeners(signal); process.kill(process.pid, signal); }
    else process.exitCode = code ?? 1;
  });
}

/** A child whose parent is gone (killed with SIGKILL, which cannot be passed on) stops too. */
// The check runs on a worker thread: the main thread can be busy for seconds inside the GPU
// driver (lavapipe computes on the CPU), and the run would go on writing its folder meanwhile.
function watchParent(parent) {
  const source = `setInterval(() => { if (process.ppid !== ${parent}) process.kill(process.pid, 'SIGKILL'); }, 100);`;
  new Worker(source, { eval: true }).unref();
}
