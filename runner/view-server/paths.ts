// The one resolver every path the view server serves goes through: the URL path is split into
// percent-decoded segments BEFORE anything else, a segment that is empty (absolute paths, `//`),
// starts with a dot (`.`, `..`, hidden and temporary files) or holds `/`, `\` or NUL after
// decoding is refused, and the real path (symlinks followed) must still lie inside the served
// folder. Decoding exactly once means `%252e%252e` is the literal name "%2e%2e", never `..`.
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainmentError, isInside } from '../storage/contained-fs.ts';

/** A request the server refuses on purpose; `message` goes back as JSON `{ error }`. */
export class Refusal extends ContainmentError {}

/** A real path checked inside the real path of the folder it was resolved in. */
export interface InsidePath { real: string; realFolder: string }

/** Refuses segments that could leave the folder or reach hidden files; `decoded` segments are used as names. */
function checkSegments(decoded: string[]): string[] {
  for (const s of decoded) {
    if (s === '') throw new Refusal(403, 'empty path segment (absolute paths and // are not served)');
    if (s.startsWith('.')) throw new Refusal(403, `path segment "${s}" starts with a dot (., .. and hidden files are not served)`);
    if (/[\\/\0]/.test(s)) throw new Refusal(403, 'a path segment holds an encoded /, a backslash or a NUL byte');
  }
  return decoded;
}

/** The decoded, checked segments of a raw URL path ('' → none). */
export function urlSegments(raw: string): string[] {
  if (raw === '') return [];
  return checkSegments(raw.split('/').map((part) => {
    try { return decodeURIComponent(part); } catch { throw new Refusal(400, 'malformed percent-encoding in the path'); }
  }));
}

/** The checked segments of a query value (already decoded by URLSearchParams: decoding again would double-decode). */
export function querySegments(value: string | null): string[] {
  return value ? checkSegments(value.split('/')) : [];
}

/** The real path of `segments` inside `folder` (and the folder's real path): 404 when missing, 403 when a symlink leads outside. */
export async function resolveInside(folder: string, segments: string[]): Promise<string> {
  return (await resolveWithin(folder, segments)).real;
}

export async function resolveWithin(folder: string, segments: string[]): Promise<InsidePath> {
  const realFolder = await realpath(folder);
  let real: string;
  try {
    real = await realpath(join(realFolder, ...segments));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Refusal(404, `not found: ${segments.join('/')}`);
    throw e;
  }
  if (!isInside(real, realFolder)) throw new Refusal(403, `${segments.join('/')} leads outside the served folder`);
  return { real, realFolder };
}
