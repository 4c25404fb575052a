// The corruption matrix (issue 15): a finished run folder is copied, one of its files damaged in
// one of five ways, and the same job run again in-process on FsStorage. Every case must end either
// recomputed — every file byte-identical to the undamaged folder's, the result the same, and a
// log line naming the damaged file (never used silently) — or refused with a one-line UserError
// naming the file. A finished run's checkpoint.safetensors is the one file that may end up absent
// instead: the run never reads it again, so a damaged one is discarded, not recomputed.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { UserError } from '../../src/errors.ts';
import type { TrainEvent } from '../../src/train/events.ts';
import { tree, treeDiff } from './tree.ts';

export const DAMAGES = ['flip', 'truncate', 'delete', 'delete sidecar', 'bad sidecar'] as const;
export type Damage = typeof DAMAGES[number];

/** A flipped byte and no sidecar: what a checksum cannot catch, so the run must not trust the file. */
export async function flipWithoutSidecar(path: string): Promise<void> {
  damage(path, 'flip');
  damage(path, 'delete sidecar');
}

export function damage(path: string, d: Damage): void {
  const sidecar = `${path}.sha256`;
  if (d === 'flip') {
    const b = readFileSync(path);
    b[Math.floor(b.length / 2)]! ^= 0x10;
    writeFileSync(path, b);
  } else if (d === 'truncate') truncateSync(path, Math.floor(readFileSync(path).length / 2));
  else if (d === 'delete') unlinkSync(path);
  else if (d === 'delete sidecar') unlinkSync(sidecar);
  else writeFileSync(sidecar, 'not a checksum\n');
}

export interface MatrixOptions {
  /** Runs the job on a runs root; its result is compared with the reference run's. */
  run: (root: string, sink: (e: TrainEvent) => void) => Promise<unknown>;
  /** Files to damage, relative to the runs root. */
  files: string[];
  /** Files that may be absent after a rerun (finished runs' checkpoints). */
  mayBeDropped: (file: string) => boolean;
  /** Extra cases: a file rewritten well-formed, with a matching sidecar, but wrong for the run. */
  crafted?: { file: string; name: string; apply: (path: string) => Promise<void> }[];
}

export async function corruptionMatrix(o: MatrixOptions): Promise<{ tried: number; recomputed: number; refused: number; failures: string[] }> {
  const ref = mkdtempSync(join(tmpdir(), 'earlyphase-corrupt-ref-'));
  try {
    const want = await o.run(ref, () => {});
    const wantTree = tree(ref);
    for (const f of o.files) assert.ok(wantTree.has(f), `the reference run has no ${f}`);
    let tried = 0, recomputed = 0, refused = 0;
    const failures: string[] = [];
    const cases = [
      ...o.files.flatMap((file) => DAMAGES.map((d) => ({ file, name: d as string, apply: async (p: string) => damage(p, d) }))),
      ...(o.crafted ?? []),
    ];
    for (const { file: f, name: d, apply } of cases) {
      {
        tried++;
        const root = mkdtempSync(join(tmpdir(), 'earlyphase-corrupt-'));
        const logs: string[] = [];
        try {
          cpSync(ref, root, { recursive: true });
          await apply(join(root, f));
          const why = await o.run(root, (e) => { if (e.type === 'log') logs.push(e.message); }).then(
            (got) => {
              const diff = treeDiff(wantTree, tree(root)).filter((l) => !(l.startsWith('missing ') && o.mayBeDropped(l.slice(8).replace(/\.sha256$/, ''))));
              if (diff.length) return `folder differs: ${diff.join(', ')}`;
              if (JSON.stringify(got) !== JSON.stringify(want)) return `result ${JSON.stringify(got)} is not ${JSON.stringify(want)}`;
              if (d !== 'delete' && !logs.some((l) => l.includes(basename(f)))) return `no log line names ${basename(f)}: ${JSON.stringify(logs)}`;
              recomputed++;
              return null;
            },
            (e: unknown) => {
              const m = e instanceof Error ? e.message : String(e);
              if (e instanceof UserError && !m.includes('\n') && m.includes(basename(f))) { refused++; return null; }
              return `threw ${e instanceof UserError ? '' : 'a non-UserError '}${m.split('\n')[0]}`;
            });
          if (why) failures.push(`${f} × ${d}: ${why}`);
        } finally {
          rmSync(root, { recursive: true, force: true });
        }
      }
    }
    return { tried, recomputed, refused, failures };
  } finally {
    rmSync(ref, { recursive: true, force: true });
  }
}
