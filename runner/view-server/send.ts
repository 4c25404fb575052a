// The view server's answers: files (viewer pages, run files, dataset files) streamed from an open
// descriptor, JSON bodies, and the JSON `{ error }` a failed request gets.
// Files are opened by runner/storage/contained-fs.ts: regular files only, without blocking (a FIFO
// cannot wedge the server), re-checked on the open descriptor against symlink swaps.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname } from 'node:path';
import { ContainmentError, openRegularFile } from '../storage/contained-fs.ts';
import type { InsidePath } from './paths.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.sha256': 'text/plain; charset=utf-8', '.png': 'image/png', '.svg': 'image/svg+xml',
  // Served as the bytes on disk (no content-encoding): the page inflates them with DecompressionStream.
  '.gz': 'application/gzip', '.safetensors': 'application/octet-stream', '.bin': 'application/octet-stream',
};

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export async function sendFile(req: IncomingMessage, res: ServerResponse, at: InsidePath, name: string): Promise<void> {
  const { fh, size } = await openRegularFile(at.real, at.realFolder, name);
  res.writeHead(200, {
    'content-type': TYPES[extname(name)] ?? 'application/octet-stream', 'content-length': size,
    'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') { await fh.close(); res.end(); return; }
  const stream = fh.createReadStream();
  stream.on('error', () => res.destroy());
  stream.pipe(res);
}

/** A request that threw: its refusal as JSON, anything else a 500 (logged); a response already started is cut off. */
export function sendError(req: IncomingMessage, res: ServerResponse, e: unknown): void {
  if (res.headersSent) { res.destroy(); return; }
  // A refusal before the body was read leaves the rest of it on the wire: the connection cannot carry another request.
  if (!req.complete) res.setHeader('connection', 'close');
  if (e instanceof ContainmentError) { sendJson(res, e.status, { error: e.message }); return; }
  console.error(`earlyphase view: ${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
  sendJson(res, 500, { error: `internal error: ${(e as Error)?.message ?? e}` });
}
