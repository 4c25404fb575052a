// What a CLI run leaves behind on the terminal and in the temp folder (issue 14 items 12, 19):
// Dawn's native "artificially reduced" limit warnings are hidden unless --verbose, and a run
// makes no new folder in the temp folder (the XDG runtime dir is one per user, reused).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { tempDir } from '../temp-dir.ts';
import { dawnWarningFilter } from '../../runner/stderr-filter.mjs';
import { earlyphase } from '../cli.ts';

const WARNING = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

async function run(args: string[], env: Record<string, string | undefined> = {}) {
  const r = await earlyphase(args, { env, timeoutMs: 60_000 });
  assert.equal(r.status, 0, r.err);
  return { stdout: r.out, stderr: r.err };
}

test('Dawn limit warnings: shown with --verbose, hidden without', async () => {
  const [verbose, quiet] = await Promise.all([run(['adapters', '--verbose']), run(['adapters'])]);
  // The warnings exist on this machine (else the next check proves nothing).
  assert.match(verbose.stderr, /artificially reduced/);
  assert.doesNotMatch(quiet.stderr, /artificially reduced/);
  assert.equal(quiet.stdout, verbose.stdout, 'the same listing either way');
});

test('the stderr filter drops only the warning lines and passes partial lines through at once', () => {
  let out = '';
  const f = dawnWarningFilter((s: string) => { out += s; });
  f.push(`${WARNING}\nhello\n\r[###.....] 12%`);
  assert.equal(out, 'hello\n\r[###.....] 12%', 'a progress bar without a newline is not held back');
  f.push(`\nWarning: maxDynamicUniform`); // a warning split across chunks
  assert.equal(out, 'hello\n\r[###.....] 12%\n');
  f.push(`BuffersPerPipelineLayout artificially reduced from 8 to 4 to fit dynamic offset allocation limit.\nWarning: something else\n`);
  f.push('Warn');
  f.end();
  assert.equal(out, 'hello\n\r[###.....] 12%\nWarning: something else\nWarn');
});

test('CLI runs leave no new folder in the temp folder (one XDG runtime dir per user, reused)', async () => {
  const tmp = tempDir('earlyphase-e2e-');
  const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: undefined };
  await run(['adapters'], env);
  await run(['adapters', '--verbose'], env);
  const ours = readdirSync(tmp).filter((n) => n.startsWith('earlyphase-'));
  assert.deepEqual(ours, [`earlyphase-xdg-${userInfo().uid}`]);
});
