// Kill at a file operation, resume, compare (issue 15; test/e2e/kill-{train,lottery}.test.ts): a LeNet `train` and a `lottery` are run
// once uninterrupted under the fault injector (test/fault/kill-at.mjs) to list their file
// operations (each temp-file write and each rename, data files and .sha256 sidecars alike); then,
// for each chosen operation, a fresh run is SIGKILLed just before it and the same command run
// again must leave every file — metrics.csv, done.json and the sidecars included, no temp files —
// byte-identical to the uninterrupted run's.
// Every operation is tried with EP_FAULT_FULL=1 (train: 52, lottery: 84 operations; 8 and 9.5
// minutes on the shared 2-core machine — all 136 ended byte-identical); by default a
// deterministic sample of 3 evenly spaced operations plus the kills the issue found harmful
// (between metrics.csv and the checkpoint, between done.json and its sidecar): ~40 s per command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evenSample, tree, treeDiff } from './tree.ts';

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
const injector = fileURLToPath(new URL('./kill-at.mjs', import.meta.url));
const BASE = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--evaluate-only-at-end', '--adapter', 'llvmpipe', '--quiet'];
export const TRAIN = ['train', ...BASE, '--training-steps', '30it', '--save-steps', '5it,15it'];
export const LOTTERY = ['lottery', ...BASE, '--training-steps', '20it', '--levels', '1', '--rewinding-steps', '5it'];
const FULL = process.env.EP_FAULT_FULL === '1';

function run(argv: string[], root: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', injector, cli, ...argv, '--root', root],
    { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, signal: r.signal, err: r.stderr };
}

export function killSuite(name: string, argv: string[], sample: number) {
  test(`${name}: killed at a file operation, then resumed ⇒ every file byte-identical`, { timeout: 600_000 }, (t) => {
    const ref = mkdtempSync(join(tmpdir(), 'earlyphase-kill-ref-'));
    t.after(() => rmSync(ref, { recursive: true, force: true }));
    const log = join(ref, '..', `${ref.split('/').at(-1)}.ops`);
    t.after(() => rmSync(log, { force: true }));
    const r = run(argv, ref, { EP_KILL_LOG: log, EP_KILL_ROOT: ref });
    assert.equal(r.status, 0, r.err);
    const ops = readFileSync(log, 'utf8').trim().split('\n').map((l) => { const [n, op, file] = l.split(' '); return { n: Number(n), op: op!, file: file! }; });
    const want = tree(ref);

    const harmful = [
      ops.filter((o) => o.op === 'write' && o.file.endsWith('/checkpoint.safetensors'))[1], // metrics.csv written, checkpoint not
      ops.find((o) => o.op === 'write' && o.file.endsWith('/done.json.sha256')),            // done.json without its sidecar
    ].flatMap((o) => (o ? [o.n] : []));
    const chosen = FULL ? ops.map((o) => o.n) : [...new Set([...evenSample(ops.length, sample), ...harmful])].sort((a, b) => a - b);
    let identical = 0;
    const failures: string[] = [];
    for (const n of chosen) {
      const root = mkdtempSync(join(tmpdir(), 'earlyphase-kill-'));
      try {
        const killed = run(argv, root, { EP_KILL_AT: String(n) });
        assert.equal(killed.signal, 'SIGKILL', `kill at ${n} did not happen: ${killed.err}`);
        const resumed = run(argv, root);
        const diff = resumed.status === 0 ? treeDiff(want, tree(root)) : [`resume exited ${resumed.status}: ${resumed.err.trim()}`];
        if (diff.length) failures.push(`kill before ${ops[n - 1]!.op} of ${ops[n - 1]!.file} (#${n}): ${diff.join(', ')}`);
        else identical++;
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }
    console.log(`# ${name}: ${ops.length} file operations, ${chosen.length} tried${FULL ? ' (all)' : ' (sample)'}, ${identical} byte-identical after resume`);
    assert.deepEqual(failures, []);
  });
}

