// XDG_RUNTIME_DIR for Mesa when the environment has none. It used to be a fresh mkdtemp folder
// per process, never removed (hundreds piled up in /tmp). Now: one folder per user,
// <tmp>/earlyphase-xdg-<uid>, reused by every run, and used only when it is really ours (a
// directory, not a link, owned by this user, closed to others, as the XDG spec asks of a runtime
// dir). If someone else made that name, a per-process folder is made and removed at exit.
import { lstatSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export function privateRuntimeDir(base = tmpdir()): string {
  const uid = userInfo().uid;
  const dir = join(base, `earlyphase-xdg-${uid}`);
  try { mkdirSync(dir, { mode: 0o700 }); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') return perProcess(base); }
  const st = lstatSync(dir);
  if (st.isDirectory() && !st.isSymbolicLink() && st.uid === uid && (st.mode & 0o077) === 0) return dir;
  return perProcess(base);
}

function perProcess(base: string): string {
  const dir = mkdtempSync(join(base, 'earlyphase-xdg-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
