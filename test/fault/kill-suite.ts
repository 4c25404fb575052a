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
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { earlyphase } from '../cli.ts';
import { fixture } from '../fixtures.ts';
import { tempDir } from '../temp-dir.ts';
import { evenSample, tree, treeDiff } from './tree.ts';

const injector = fileURLToPath(new URL('./kill-at.mjs', import.meta.url));
const BASE = ['--default-hparams', 'mnist_lenet_300_100', '--dataset-name', 'fashion_mnist', '--subsample-fraction', '0.02',
  '--evaluate-only-at-end', '--adapter', 'llvmpipe', '--quiet'];
export const TRAIN = ['train', ...BASE, '--training-steps', '30it', '--save-steps', '5it,15it'];
export const LOTTERY = ['lottery', ...BASE, '--training-steps', '20it', '--levels', '1', '--rewinding-steps', '5it'];
const FULL = process.env.EP_FAULT_FULL === '1';

/** `earlyphase argv --root root` under the fault injector (its own process group, killed at its deadline). */
function run(argv: string[], root: string, env: Record<string, string> = {}) {
  return earlyphase([...argv, '--root', root], { node: ['--import', injector], env, timeoutMs: 180_000 });
}

export interface Op { n: number; op: string; file: string }
/** An uninterrupted run: its folder and the file operations it made, in order. */
export interface KillReference { root: string; tree: Map<string, Buffer>; ops: Op[]; out: string }

const parseOps = (text: string): Op[] => text.trim().split('\n').map((l) => { const [n, op, file] = l.split(' '); return { n: Number(n), op: op!, file: file! }; });

/** Runs `argv` uninterrupted in a fresh folder under the injector, listing its file operations. */
export async function referenceRun(argv: string[]): Promise<KillReference> {
  const root = tempDir('earlyphase-kill-ref-');
  const log = `${root}.ops`;
  try {
    const r = await run(argv, root, { EP_KILL_LOG: log, EP_KILL_ROOT: root });
    assert.equal(r.status, 0, r.err);
    return { root, tree: tree(root), ops: parseOps(readFileSync(log, 'utf8')), out: r.out };
  } finally {
    rmSync(log, { force: true });
  }
}

/**
 * The same as a shared fixture (test/fixtures.ts): `root` is read-only. TRAIN's and LOTTERY's are
 * also the replicate-1 folders test/e2e/pack.test.ts compares packs with, and LOTTERY's is the
 * trunk test/e2e/branch-multi.test.ts branches from.
 */
export async function sharedReference(name: string, argv: string[]): Promise<KillReference> {
  const dir = await fixture(name, async (d) => {
    const root = join(d, 'root');
    mkdirSync(root);
    const r = await run(argv, root, { EP_KILL_LOG: join(d, 'ops.txt'), EP_KILL_ROOT: root });
    assert.equal(r.status, 0, r.err);
    writeFileSync(join(d, 'out.txt'), r.out);
  });
  const root = join(dir, 'root');
  return { root, tree: tree(root), ops: parseOps(readFileSync(join(dir, 'ops.txt'), 'utf8')), out: readFileSync(join(dir, 'out.txt'), 'utf8') };
}
export const trainReference = () => sharedReference('train-30it', TRAIN);
export const lotteryReference = () => sharedReference('lottery-20it', LOTTERY);

/**
 * The kill test of `argv`: `reference` gives its uninterrupted run (default: run here; a test
 * file that also needs that run for another check passes the one it made).
 */
export function killSuite(name: string, argv: string[], sample: number, reference: () => Promise<KillReference> = () => referenceRun(argv)) {
  test(`${name}: killed at a file operation, then resumed ⇒ every file byte-identical`, { timeout: 900_000 }, async () => {
    const { ops, tree: want } = await reference();
    const harmful = [
      ops.filter((o) => o.op === 'write' && o.file.endsWith('/checkpoint.safetensors'))[1], // metrics.csv written, checkpoint not
      ops.find((o) => o.op === 'write' && o.file.endsWith('/done.json.sha256')),            // done.json without its sidecar
    ].flatMap((o) => (o ? [o.n] : []));
    const chosen = FULL ? ops.map((o) => o.n) : [...new Set([...evenSample(ops.length, sample), ...harmful])].sort((a, b) => a - b);
    let identical = 0;
    const failures: string[] = [];
    for (const n of chosen) {
      const root = tempDir('earlyphase-kill-');
      try {
        const killed = await run(argv, root, { EP_KILL_AT: String(n) });
        assert.equal(killed.signal, 'SIGKILL', `kill at ${n} did not happen: ${killed.err}`);
        const resumed = await run(argv, root);
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
