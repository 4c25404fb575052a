#!/usr/bin/env node
// `npm test`: every test/**/*.test.ts through Node's test runner (one run, one summary).
// Files run one at a time: the GPU tests each keep both CPU cores busy.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
function find(dir) {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? find(p) : f.endsWith('.test.ts') ? [relative(root, p)] : [];
  });
}
const only = process.argv.slice(2);
const files = find(join(root, 'test')).filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
if (files.length === 0) {
  console.error(`no test files match ${only.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
