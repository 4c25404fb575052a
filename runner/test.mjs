#!/usr/bin/env node
// The test runner.
//   npm test                    every test/**/*.test.ts (unit, kernels on every adapter, e2e, browser)
//   npm run test:quick          the unit tests and the kernel cases on lavapipe: the edit loop
//   node runner/test.mjs NAME…  the test files whose path contains one of the NAMEs (with --quick: within the quick tier)
// Options: --jobs N (files run at once; EARLYPHASE_TEST_JOBS; default 2, 1 on a single core), --quick.
//
// Each file runs in `node --test` of its own, in a process group of its own, under a guard:
//  - its deadline (EARLYPHASE_TEST_FILE_TIMEOUT_S, default 1200 s) kills its whole group and every
//    process it started (found by a marker in their environment, so detached ones too);
//  - when it ends, any process it started that is still running is named, killed and fails the run;
//  - it gets a temp folder of its own (TMPDIR): anything left in it when the file ends is named and
//    fails the run; the folder is removed either way, and so is the run's own temp folder at the end;
//  - SIGINT, SIGTERM or SIGHUP to the runner, or its own deadline (EARLYPHASE_TEST_TIMEOUT_S,
//    default 5400 s), kills every running file's group and every process they started, then exits.
// Output: each file's TAP as it finishes, then a summary (counts, failures, the adapters the GPU
// tests ran on, the slowest files, the CPU time used, wall time). Exit 0 only when every file passed and left nothing.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const t0 = Date.now();
const load0 = loadavg();

// ── arguments ────────────────────────────────────────────────────────────────────────────────
const argv = process.argv.slice(2);
let quick = false;
let jobs = Number(process.env.EARLYPHASE_TEST_JOBS ?? Math.min(2, availableParallelism()));
const only = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--quick') quick = true;
  else if (a === '--jobs' || a === '-j') jobs = Number(argv[++i]);
  else if (a.startsWith('--jobs=')) jobs = Number(a.slice(7));
  else if (a.startsWith('-')) { console.error(`runner/test.mjs: unknown option ${a} (known: --quick, --jobs N)`); process.exit(2); }
  else only.push(a);
}
if (!Number.isInteger(jobs) || jobs < 1) { console.error(`runner/test.mjs: --jobs must be a positive integer, got ${jobs}`); process.exit(2); }
const fileTimeoutS = Number(process.env.EARLYPHASE_TEST_FILE_TIMEOUT_S ?? 1200);
const suiteTimeoutS = Number(process.env.EARLYPHASE_TEST_TIMEOUT_S ?? 5400);

function find(dir) {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? find(p) : f.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}
/** The quick tier: unit tests, and the kernel case table on lavapipe only. */
const QUICK_KERNELS = 'test/kernels/suite.test.ts';
const inQuick = (f) => f.startsWith('test/unit/') || f === QUICK_KERNELS;
const files = find(join(root, 'test'))
  .filter((f) => !quick || inQuick(f))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error(`no test files match ${only.join(' ')}${quick ? ' in the quick tier' : ''}`);
  process.exit(1);
}
// Longest first, so that with several jobs the long files do not end up last and alone.
const WEIGHT = { browser: 3, kernels: 2, e2e: 1, unit: 0 };
const weight = (f) => WEIGHT[f.split('/')[1]] ?? 0;
const queue = [...files].sort((a, b) => weight(b) - weight(a) || a.localeCompare(b));

// ── the run's temp folder, markers ───────────────────────────────────────────────────────────
const uid = process.getuid?.() ?? 0;
const runTmp = mkdtempSync(join(tmpdir(), 'earlyphase-test-'));
chmodSync(runTmp, 0o755); // as /tmp is to them: tests that run a command as another user give it a folder of its own in here
const tsxCache = join(runTmp, 'tsx-cache');
mkdirSync(tsxCache);
const xdg = join(runTmp, 'xdg');
mkdirSync(xdg, { mode: 0o700 });
/** Shared fixtures (test/fixtures.ts): built once in a run by the first file that needs one. */
const fixtures = join(runTmp, 'fixtures');
mkdirSync(fixtures);
/** Names a file's temp folder may hold when it ends: tsx's compile cache (a link to the run's) and the per-user XDG folder. */
const ALLOWED_TEMP = new Set([`tsx-${uid}`, `earlyphase-xdg-${uid}`]);
const MARK = 'EARLYPHASE_TEST_GUARD';
const runId = `${process.pid}.${t0}`;

// ── processes ────────────────────────────────────────────────────────────────────────────────
/** Live processes whose environment carries `mark` (a file's, or any of this run's with a trailing ':'). */
function marked(mark) {
  const out = [];
  let pids = [];
  try { pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p)); } catch { return out; }
  for (const pid of pids) {
    let env, stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue; // exited, not yet reaped
      env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch { continue; }
    const m = env.split('\0').find((kv) => kv.startsWith(`${MARK}=`));
    if (!m || !m.slice(MARK.length + 1).startsWith(mark)) continue;
    let cmd = '';
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim(); } catch { /* gone */ }
    out.push({ pid: Number(pid), cmd: cmd.length > 200 ? `${cmd.slice(0, 200)}…` : cmd });
  }
  return out;
}
const killPid = (pid) => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } };
const killGroup = (pgid) => { try { process.kill(-pgid, 'SIGKILL'); } catch { /* gone */ } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/**
 * CPU seconds used by this runner's reaped children and their reaped descendants (cutime + cstime
 * of /proc/self/stat, in USER_HZ = 100 ticks per second on Linux). A file's CPU time is the growth
 * across its exit: approximate when two files exit in the same tick; 0 where /proc is missing.
 */
function childrenCpuSeconds() {
  try {
    const s = readFileSync('/proc/self/stat', 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[13]) + Number(f[14])) / 100;
  } catch { return 0; }
}
/** Busy and total CPU time of the whole machine so far (/proc/stat's first line, in ticks), or null. */
function machineCpu() {
  try {
    const t = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = t[3] + (t[4] ?? 0);
    const total = t.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch { return null; }
}
const machine0 = machineCpu();

/** Kills `mark`'s processes; returns those still running after a grace period of `graceMs` (the left-behind ones). */
async function reap(mark, graceMs) {
  let left = marked(mark);
  for (const end = Date.now() + graceMs; left.length && Date.now() < end;) { await sleep(100); left = marked(mark); }
  for (const p of left) killPid(p.pid);
  for (const end = Date.now() + 5000; marked(mark).length && Date.now() < end;) await sleep(50);
  return left;
}

// ── one file ─────────────────────────────────────────────────────────────────────────────────
const results = [];
const running = new Map(); // file → { child, mark }
let cpuSeen = childrenCpuSeconds();

function runFile(file, index) {
  return new Promise((resolve) => {
    const mark = `${runId}:${index}:`;
    const tmp = join(runTmp, `f${index}`);
    mkdirSync(tmp);
    symlinkSync(tsxCache, join(tmp, `tsx-${uid}`));
    const env = { ...process.env, TMPDIR: tmp, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? xdg, EARLYPHASE_TEST_FIXTURES: fixtures, [MARK]: mark };
    if (quick && file === QUICK_KERNELS && !process.env.EARLYPHASE_TEST_ADAPTERS) env.EARLYPHASE_TEST_ADAPTERS = 'llvmpipe';
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', file],
      { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    running.set(file, { child, mark });
    let out = '';
    const take = (s) => { out += s; if (jobs === 1) process.stdout.write(s); };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; killGroup(child.pid); for (const p of marked(mark)) killPid(p.pid); }, fileTimeoutS * 1000);
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const cpuNow = childrenCpuSeconds();
      const cpu = cpuNow - cpuSeen;
      cpuSeen = cpuNow;
      // Whatever is still running: first its own group, then anything else it started.
      const left = await reap(mark, 1000);
      killGroup(child.pid);
      running.delete(file);
      let leftTemp = [];
      try { leftTemp = readdirSync(tmp).filter((n) => !ALLOWED_TEMP.has(n)); } catch { /* removed */ }
      rmSync(tmp, { recursive: true, force: true });
      const count = (k) => Number(new RegExp(`^# ${k} (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
      const r = {
        file, seconds, cpu, code, signal, timedOut, out,
        tests: count('tests'), pass: count('pass'), fail: count('fail'), cancelled: count('cancelled'), skipped: count('skipped'), todo: count('todo'),
        failures: [...out.matchAll(/^(\s*)not ok \d+ - (.*)$/gm)].map((m) => `${m[1]}${m[2]}`),
        left, leftTemp,
      };
      r.ok = code === 0 && !timedOut && r.fail === 0 && r.cancelled === 0 && left.length === 0 && leftTemp.length === 0;
      results.push(r);
      if (jobs > 1) process.stdout.write(out.endsWith('\n') || !out ? out : `${out}\n`);
      const notes = [
        timedOut ? `timed out after ${fileTimeoutS} s: its process group and every process it started were killed` : '',
        code !== 0 && !timedOut ? `exit ${code ?? signal}` : '',
        ...left.map((p) => `left running (killed now): pid ${p.pid} ${p.cmd}`),
        leftTemp.length ? `left in its temp folder: ${leftTemp.join(', ')}` : '',
      ].filter(Boolean);
      console.log(`# ${r.ok ? 'ok' : 'FAILED'} ${file} (${seconds.toFixed(1)} s, ${cpu.toFixed(1)} s CPU; ${r.pass}/${r.tests} passed)${notes.map((n) => `\n#   ${n}`).join('')}`);
      resolve();
    });
  });
}

// ── interruption ─────────────────────────────────────────────────────────────────────────────
let stopping = false;
async function stop(why, code) {
  if (stopping) return;
  stopping = true;
  console.log(`\n# ${why}: killing ${running.size} running test file(s) and every process they started`);
  for (const { child } of running.values()) killGroup(child.pid);
  const left = await reap(`${runId}:`, 0);
  for (const p of left) console.log(`#   killed pid ${p.pid} ${p.cmd}`);
  rmSync(runTmp, { recursive: true, force: true });
  process.exit(code);
}
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) process.on(sig, () => void stop(`${sig}`, 128 + n));
setTimeout(() => void stop(`the run's deadline (${suiteTimeoutS} s) passed`, 124), suiteTimeoutS * 1000).unref();

// ── the run ──────────────────────────────────────────────────────────────────────────────────
console.log(`# ${quick ? 'quick tier' : 'all tests'}: ${files.length} file(s), ${jobs} at a time, on ${cpus().length} CPU(s); load average ${load0.map((l) => l.toFixed(2)).join(' ')}`);
let next = 0;
const index = new Map(files.map((f, i) => [f, i]));
async function worker() {
  while (next < queue.length && !stopping) {
    const file = queue[next++];
    await runFile(file, index.get(file));
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
if (stopping) await new Promise(() => {}); // stop() exits

// ── summary ──────────────────────────────────────────────────────────────────────────────────
const wall = (Date.now() - t0) / 1000;
const sum = (k) => results.reduce((a, r) => a + r[k], 0);
const failed = results.filter((r) => !r.ok);
// The lines saying which adapters the GPU tests ran on (test/kernels/suite.test.ts, test/browser/kernels.test.ts).
const adapters = [...new Set(results.flatMap((r) => [...r.out.matchAll(/((?:kernel suite adapters|browser kernel suite adapter): .*)$/gm)].map((m) => m[1])))];
// A last look for anything of this run still running (there should be none: each file's guard reaped its own).
const stray = await reap(`${runId}:`, 0);
rmSync(runTmp, { recursive: true, force: true });
const fmt = (s) => `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
console.log('\n# ── summary ──');
for (const a of adapters) console.log(`# ${a}`);
console.log(`# files ${results.length}, tests ${sum('tests')}, pass ${sum('pass')}, fail ${sum('fail')}, cancelled ${sum('cancelled')}, skipped ${sum('skipped')}, todo ${sum('todo')}`);
console.log(`# slowest: ${[...results].sort((a, b) => b.seconds - a.seconds).slice(0, 8).map((r) => `${r.file.replace(/^test\//, '')} ${r.seconds.toFixed(0)} s (${r.cpu.toFixed(0)} s CPU)`).join(', ')}`);
const leftBehind = results.flatMap((r) => r.left.map((p) => `${r.file}: pid ${p.pid} ${p.cmd}`)).concat(stray.map((p) => `after the run: pid ${p.pid} ${p.cmd}`));
const tempBehind = results.flatMap((r) => r.leftTemp.map((n) => `${r.file}: ${n}`));
console.log(leftBehind.length ? `# processes left running (killed): ${leftBehind.length}\n${leftBehind.map((l) => `#   ${l}`).join('\n')}` : '# no process left running');
console.log(tempBehind.length ? `# left in the temp folder (removed): ${tempBehind.length}\n${tempBehind.map((l) => `#   ${l}`).join('\n')}` : '# nothing left in the temp folder');
if (failed.length) {
  console.log(`# FAILED files: ${failed.length}`);
  for (const r of failed) {
    console.log(`#   ${r.file}${r.timedOut ? ' (timed out)' : ''}`);
    for (const f of r.failures.slice(0, 20)) console.log(`#     not ok ${f.trim()}`);
  }
}
const machine1 = machineCpu();
const busy = machine0 && machine1 ? (machine1.busy - machine0.busy) / (machine1.total - machine0.total) : null;
console.log(`# CPU: the test files used ${sum('cpu').toFixed(0)} s${busy === null ? '' : `; the machine's CPUs were busy ${(100 * busy).toFixed(0)}% of the run (all programs)`}`);
console.log(`# wall ${fmt(wall)} (${wall.toFixed(0)} s), ${jobs} job(s), ${cpus().length} CPU(s); load average at start ${load0.map((l) => l.toFixed(2)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
process.exit(failed.length || stray.length ? 1 : 0);
