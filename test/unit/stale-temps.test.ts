// Temp files of killed writers (issue 15 item 11): `.<name>.<pid>.<hex>.tmp` files whose process is
// gone are removed when a run starts in the folder; those of live processes and other files stay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStorage } from '../../runner/storage/fs-storage.ts';

test('removeStaleTemps removes the temp files of dead writers only', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'earlyphase-temps-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid names no process (barring reuse)
  const names = [`.metrics.csv.${dead}.0123abcd.tmp`, `.done.json.sha256.${dead}.deadbeef.tmp`,
    `.checkpoint.safetensors.${process.pid}.00ff00ff.tmp`, `.metrics.csv.${process.ppid}.11111111.tmp`, 'metrics.csv', '.hidden', `.x.${dead}.nothex!.tmp`];
  for (const n of names) writeFileSync(join(root, n), '');
  const removed = await new FsStorage(root).removeStaleTemps!('');
  assert.deepEqual(removed.sort(), names.slice(0, 2).sort());
  assert.deepEqual(readdirSync(root).sort(), names.slice(2).sort());
});
