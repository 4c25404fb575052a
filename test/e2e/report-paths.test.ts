// `earlyphase report PATH` (issue 14 item 1): every path the CLI prints works (a train run's
// …/replicate_1/main, a lottery's …/replicate_1, a level, a branch); a folder without runs is
// exit 2 with one line and writes nothing; --out naming a file is one line, not a stack trace.
// A fake result tree (no GPU, no Chromium: train runs and a lottery without levels draw no figures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { reportFolder } from '../../runner/cli/report-command.ts';
import { tempDir } from '../temp-dir.ts';
import { earlyphase } from '../cli.ts';

const report = (...args: string[]) => earlyphase(['report', ...args], { timeoutMs: 60_000 });

function fakeRuns(): { root: string; train: string; lottery: string } {
  const root = tempDir('earlyphase-e2e-');
  const train = join(root, 'train_0123456789', 'replicate_1', 'main');
  mkdirSync(train, { recursive: true });
  // With their .sha256 sidecars, as the engine writes them (report uses no file its sidecar does not vouch for).
  for (const [name, text] of [['done.json', JSON.stringify({ iteration: 10, testAccuracy: 0.5, weightsHash: 'ab' })], ['hparams.json', '{}']]) {
    writeFileSync(join(train, name!), text!);
    writeFileSync(join(train, `${name}.sha256`), `${createHash('sha256').update(text!).digest('hex')}  ${name}\n`);
  }
  const lottery = join(root, 'lottery_abcdef0123', 'replicate_1');
  mkdirSync(join(lottery, 'level_0', 'branch_randomly_prune_0011223344'), { recursive: true });
  return { root, train, lottery };
}

test('reportFolder: a path inside a train_/lottery_ folder reports that folder; a runs root itself', () => {
  const { root, train, lottery } = fakeRuns();
  assert.deepEqual(reportFolder(train), { folder: join(root, 'train_0123456789'), experiment: true });
  assert.deepEqual(reportFolder(lottery), { folder: join(root, 'lottery_abcdef0123'), experiment: true });
  assert.deepEqual(reportFolder(join(lottery, 'level_0', 'branch_randomly_prune_0011223344')), { folder: join(root, 'lottery_abcdef0123'), experiment: true });
  assert.deepEqual(reportFolder(root), { folder: root, experiment: false });
});

test('report on the path train prints (…/replicate_1/main) reports the run, under its own folder', async () => {
  const { root, train } = fakeRuns();
  const r = await report(train);
  assert.equal(r.status, 0, r.err);
  assert.match(r.out, /train_0123456789\s+1\s+50\.00/);
  assert.doesNotMatch(r.out, /no train_\* or lottery_\* folders found/);
  assert.ok(existsSync(join(root, 'train_0123456789', 'report', 'summary.txt')), 'default output beside the runs');
  assert.ok(!existsSync(join(train, 'report')));
});

test('report on a folder without runs ⇒ exit 2, one line, nothing written', async () => {
  const src = fileURLToPath(new URL('../../src', import.meta.url));
  const before = readdirSync(join(src, 'report')).sort();
  const dirs = [src, tempDir('earlyphase-e2e-')];
  const [missing, ...results] = await Promise.all([report(join(src, 'no-such-folder')), ...dirs.map((dir) => report(dir))]);
  for (const r of results) {
    assert.equal(r.status, 2, r.err);
    assert.match(r.err, /^earlyphase: report: .* holds no train_\* or lottery_\* run folders; give a runs root/);
    assert.equal(r.err.trim().split('\n').length, 1, r.err);
    assert.equal(r.out, '');
  }
  assert.deepEqual(readdirSync(join(src, 'report')).sort(), before, 'nothing written into src/report');
  assert.equal(missing.status, 2);
  assert.match(missing.err, /^earlyphase: report: .*no-such-folder does not exist/);
});

test('report --out FILE ⇒ exit 2, one line naming --out', async () => {
  const { root } = fakeRuns();
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  const r = await report(root, '--out', file);
  assert.equal(r.status, 2, r.err);
  assert.match(r.err, /^earlyphase: --out .*a-file is a file; give a folder/);
  assert.doesNotMatch(r.err, /\n\s+at /);
});
