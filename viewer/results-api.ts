// The view server's read-only result routes (runner/view-server/server.ts), with its JSON { error }
// answers turned into exceptions whose message says which request failed and why.

export interface ListEntry { name: string; dir: boolean }

async function getJson<T>(route: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(route);
  } catch (e) {
    throw new Error(`server unreachable (${route}): ${e instanceof Error ? e.message : String(e)}`);
  }
  const text = await res.text();
  let body: unknown;
  try { body = JSON.parse(text); } catch { body = undefined; }
  if (!res.ok) {
    const why = body && typeof body === 'object' && 'error' in body ? String(body.error) : text.slice(0, 200);
    throw new Error(`server error ${res.status} (${route}): ${why}`);
  }
  if (body === undefined) throw new Error(`server sent no JSON (${route})`);
  return body as T;
}

/** Entries of a folder under the server's root ('' for the root). */
export const listFolder = (dir: string): Promise<ListEntry[]> => getJson(`/api/list?dir=${encodeURIComponent(dir)}`);

/** Every file below `dir` keyed by its path relative to the root: text of .json/.csv/.txt files, null for the rest. */
export const fetchResultFiles = (dir: string): Promise<Record<string, string | null>> => getJson(`/api/files?dir=${encodeURIComponent(dir)}`);
