// `report` reads run folders through fsSource (runner/cli/report-command.ts): a file whose .sha256
// does not vouch for it is not used (issue 15: done.json edited to 0.998 printed 99.80), and a
// runs root whose own name starts with train_ / lottery_ is still searched for runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileWithChecksum } from '../../runner/storage/atomic-write.ts';
import { fsSource } from '../../runner/cli/report-command.ts';
import { collectResults } from '../../src/report/collect.ts';

async function runsRoot(t: { after: (f: () => void) => void }, name: string): Promise<{ parent: string; run: string }> {
  const parent = mkdtempSync(join(tmpdir(), 'earlyphase-report-src-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const run = join(parent, name, 'train_abc', 'replicate_1', 'main');
  mkdirSync(run, { recursive: true });
  await writeFileWithChecksum(join(run, 'done.json'), '{"iteration":30,"testAccuracy":0.75,"weightsHash":"0123456789abcdef"}\n');
  await writeFileWithChecksum(join(run, 'metrics.csv'), 'test_accuracy,30,0.75\n');
  return { parent, run };
}

test('report: files whose sidecar does not vouch for them are not used, and are named', async (t) => {
  const { parent, run } = await runsRoot(t, 'results');
  const accuracy = () => {
    const problems: string[] = [];
    const c = collectResults(fsSource(parent, problems), 'results');
    return { acc: c.trains[0]?.run.testAccuracy ?? null, problems };
  };
  assert.deepEqual(accuracy(), { acc: 0.75, problems: [] });
  writeFileSync(join(run, 'done.json'), '{"iteration":30,"testAccuracy":0.998,"weightsHash":"0123456789abcdef"}\n');
  const edited = accuracy();
  assert.equal(edited.acc, null, 'an edited done.json was reported');
  assert.deepEqual(edited.problems, ['results/train_abc/replicate_1/main/done.json is not used: its SHA-256 does not match its .sha256; rerun the command that wrote it to recompute it']);
  writeFileSync(join(run, 'done.json.sha256'), 'garbage');
  assert.match(accuracy().problems[0]!, /done\.json is not used: its \.sha256 checksum file is malformed/);
  unlinkSync(join(run, 'done.json.sha256'));
  assert.match(accuracy().problems[0]!, /done\.json is not used: its \.sha256 checksum file is missing/);
});

test('report: a runs root named like a run folder (train_results) is searched, not taken for a run', async (t) => {
  for (const name of ['train_results', 'lottery_sweep']) {
    const { parent } = await runsRoot(t, name);
    const c = collectResults(fsSource(parent), name);
    assert.deepEqual(c.trains.map((r) => [r.name, r.replicate, r.run.testAccuracy]), [['train_abc', 1, 0.75]], name);
    assert.deepEqual(c.lotteries, [], name);
  }
});
