// What a CLI run leaves behind on the terminal and in the temp folder (issue 14 items 12, 19):
// Dawn's native "artificially reduced" limit warnings are hidden unless --verbose, and a run
// makes no new folder in the temp folder (the XDG runtime dir is one per user, reused).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../temp-dir.ts';
import { dawnWarningFilter } from '../../runner/stderr-filter.mjs';

const cli = fileURLToPath(new URL('../../runner/earlyphase.mjs', import.meta.url));
const WARNING = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.';

function run(args: string[], env: Record<string, string | undefined> = {}) {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: e as NodeJS.ProcessEnv, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

test('Dawn limit warnings: shown with --verbose, hidden without', () => {
  const verbose = run(['adapters', '--verbose']);
  // The warnings exist on this machine (else the next check proves nothing).
  assert.match(verbose.stderr, /artificially reduced/);
  const quiet = run(['adapters']);
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

test('CLI runs leave no new folder in the temp folder (one XDG runtime dir per user, reused)', () => {
  const tmp = tempDir('earlyphase-e2e-');
  const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: undefined };
  run(['adapters'], env);
  run(['adapters', '--verbose'], env);
  const ours = readdirSync(tmp).filter((n) => n.startsWith('earlyphase-'));
  assert.deepEqual(ours, [`earlyphase-xdg-${userInfo().uid}`]);
});
