// The runs root (--root) is checked before anything else a run command does: a root that is a
// file, that this user cannot write, or that lies on one of the kernel's pseudo filesystems
// (where Node's recursive mkdir loops forever on /proc/…) is one line and exit 2, before the
// dataset is read or the GPU is opened. Nothing is created here; the storage creates the root
// when the first file is written.
import { accessSync, constants, lstatSync, statSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';

/** statfs f_type of file systems that hold no user files (linux/magic.h). */
const PSEUDO_FS: Record<number, string> = {
  0x9fa0: 'proc', 0x62656572: 'sysfs', 0x1cd1: 'devpts', 0x27e0eb: 'cgroup', 0x63677270: 'cgroup2',
  0x64626720: 'debugfs', 0x74726163: 'tracefs', 0x73636673: 'securityfs', 0xcafe4a11: 'bpf', 0x42494e4d: 'binfmt_misc',
};

/** The nearest path at or above `p` that exists (the root itself when it exists). */
function nearestExisting(p: string): string {
  for (let q = p; ; q = dirname(q)) {
    try { lstatSync(q); return q; } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw e;
    }
    if (dirname(q) === q) return q;
  }
}

/** Throws a UserError naming `flag` when `root` cannot hold run folders; returns the absolute path. */
export function checkRunRoot(root: string, flag = '--root'): string {
  const abs = resolve(root);
  const at = (() => {
    try { return nearestExisting(abs); } catch (e) {
      throw new UserError(`${flag} ${root}: cannot look at ${abs} (${(e as NodeJS.ErrnoException).code}); choose a folder you can write`);
    }
  })();
  let isDir = false;
  try { isDir = statSync(at).isDirectory(); } catch { /* a dangling link: not a folder */ }
  if (!isDir) {
    throw new UserError(at === abs ? `${flag} ${root} is a file, not a folder; give a folder for the run folders (created when missing)`
      : `${flag} ${root}: ${at} is a file, so no folder can be made under it; give a folder for the run folders`);
  }
  const fs = PSEUDO_FS[statfsSync(at).type];
  if (fs) throw new UserError(`${flag} ${root} is on the kernel's ${fs} file system, which cannot hold files; give a folder on a disk`);
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EROFS' ? 'is on a read-only file system' : 'is not writable by this user';
    throw new UserError(`${flag} ${root}: ${at === abs ? 'the folder' : `${at} (where it would be created)`} ${why}; give a folder you can write`);
  }
  return abs;
}
