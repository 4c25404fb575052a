// A read-only static file server on 127.0.0.1 for the viewer bundle. Paths are resolved inside
// the served folder; anything that escapes it (.., encoded forms, absolute paths, symlinks out)
// is refused with 403.
import { createServer, type Server } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.png': 'image/png', '.csv': 'text/csv; charset=utf-8',
};

/** The real path of `urlPath` inside `root`, or null if it is outside or does not exist. */
export function resolveInside(root: string, urlPath: string): string | null {
  let decoded: string;
  try { decoded = decodeURIComponent(urlPath); } catch { return null; }
  if (decoded.includes('\0') || decoded.split(/[\\/]/).includes('..')) return null;
  const realRoot = realpathSync(root);
  let real: string;
  try { real = realpathSync(join(realRoot, decoded)); } catch { return null; }
  return real === realRoot || real.startsWith(realRoot + sep) ? real : null;
}

export async function serveStatic(root: string, host = '127.0.0.1', port = 0): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return; }
    let file = resolveInside(root, path === '/' ? '/index.html' : path);
    if (file && statSync(file).isDirectory()) file = resolveInside(root, join(path, 'index.html'));
    if (!file) { res.writeHead(path.includes('..') || path.includes('%') ? 403 : 404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  const actual = typeof addr === 'object' && addr ? addr.port : port;
  return { url: `http://${host}:${actual}`, server, close: () => new Promise((r) => server.close(() => r())) };
}
