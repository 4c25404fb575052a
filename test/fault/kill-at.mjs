// Fault injector for the run-folder tests, loaded with `node --import ./test/fault/kill-at.mjs`.
// It counts the file operations of runner/storage/atomic-write.ts — "write" (a temp file was just created,
// nothing written into it yet) and "rename" (the temp file is about to replace the final name) —
// on files whose final path matches EP_KILL_MATCH (a regular expression, default: every file),
// and sends SIGKILL to its own process just before operation number EP_KILL_AT (1-based; 0 or
// unset: never). With EP_KILL_LOG set, it appends "<n> <op> <final path>" per counted operation,
// paths relative to EP_KILL_ROOT when that is set, so a test can list an uninterrupted run's
// operations and then kill at each in turn.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';

const at = Number(process.env.EP_KILL_AT ?? 0);
const match = new RegExp(process.env.EP_KILL_MATCH ?? '');
const log = process.env.EP_KILL_LOG;
const root = process.env.EP_KILL_ROOT;
let count = 0;

// tempName() in runner/storage/atomic-write.ts: <dir>/.<name>.<pid>.<8 hex>.tmp
const TEMP = /^\.(.+)\.\d+\.[0-9a-f]{8}\.tmp$/;
const finalOf = (p) => {
  const m = TEMP.exec(basename(String(p)));
  return m ? join(dirname(String(p)), m[1]) : null;
};

function hit(op, target) {
  if (!match.test(target)) return;
  count++;
  if (log) fs.appendFileSync(log, `${count} ${op} ${root ? relative(root, target) : target}\n`);
  if (count === at) process.kill(process.pid, 'SIGKILL');
}

const p = fs.promises;
const { rename, open } = p;
p.rename = async (from, to) => {
  if (finalOf(from)) hit('rename', String(to));
  return rename(from, to);
};
p.open = async (path, flags, mode) => {
  const fh = await open(path, flags, mode);
  const f = finalOf(path);
  if (f && flags === 'wx') hit('write', f);
  return fh;
};
const { renameSync, openSync } = fs;
fs.renameSync = (from, to) => {
  if (finalOf(from)) hit('rename', String(to));
  return renameSync(from, to);
};
fs.openSync = (path, flags, mode) => {
  const fd = openSync(path, flags, mode);
  const f = finalOf(path);
  if (f && flags === 'wx') hit('write', f);
  return fd;
};
// ES-module imports of node:fs and node:fs/promises see the patched functions from here on.
syncBuiltinESMExports();
