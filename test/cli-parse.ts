// CLI input errors checked in this process, without starting the CLI: parseOnlyArgv (runner/cli/cli.ts)
// parses a command line with the real commander program and runs the checks each command makes
// before any work (runner/cli/parse-check.ts). `refusal` gives what the CLI would print for the
// error and its exit code, formatted as cli.ts's report() and commander's outputError do; the
// process-level tests (test/e2e/cli-errors.test.ts, one per command elsewhere) check that the real
// CLI prints such a refusal as one line, exit 2, before any GPU work.
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { parseOnlyArgv } from '../runner/cli/cli.ts';
import { UserError } from '../src/errors.ts';

export interface Refusal { status: number; text: string }

/** The refusal `earlyphase argv…` gives before any work, or null when the command line is accepted. */
export async function refusal(argv: readonly string[]): Promise<Refusal | null> {
  try {
    await parseOnlyArgv(argv);
    return null;
  } catch (e) {
    // Commander has written "earlyphase: <its message without 'error: '>" (cli.ts configureOutput).
    if (e instanceof CommanderError) return { status: e.exitCode === 0 ? 0 : 2, text: `earlyphase: ${e.message.replace(/^error: /, '')}` };
    if (e instanceof UserError) return { status: 2, text: `earlyphase: ${e.message}` };
    return { status: 1, text: `earlyphase: ${(e as Error)?.stack ?? String(e)}` };
  }
}

/** `earlyphase argv…` is refused with exit 2 and one line matching `re`. */
export async function refusedInOneLine(argv: readonly string[], re: RegExp): Promise<string> {
  const r = await refusal(argv);
  assert.ok(r, `earlyphase ${argv.join(' ')}: accepted, expected a refusal matching ${re}`);
  assert.equal(r.status, 2, `earlyphase ${argv.join(' ')}: exit ${r.status}: ${r.text}`);
  assert.doesNotMatch(r.text, /\n/, `earlyphase ${argv.join(' ')}: one line, got:\n${r.text}`);
  assert.match(r.text, re);
  return r.text;
}

/** `earlyphase argv…` is refused with exit 2 and a message matching `re` (it may span lines, e.g. a list of branches). */
export async function refused(argv: readonly string[], re: RegExp): Promise<string> {
  const r = await refusal(argv);
  assert.ok(r, `earlyphase ${argv.join(' ')}: accepted, expected a refusal matching ${re}`);
  assert.equal(r.status, 2, `earlyphase ${argv.join(' ')}: exit ${r.status}: ${r.text}`);
  assert.match(r.text, re);
  assert.doesNotMatch(r.text, /\n\s+at /, 'no stack trace');
  return r.text;
}
