// The HTTP server behind `earlyphase view`: the built viewer pages, the run folders under --root
// (read, list, and saves of new runs from the run-in-tab page), and the dataset files that
// runner/data/datasets.ts locates, so a browser tab trains on the same bytes as the CLI.
//
// It serves files from a user's disk, so every path goes through one resolver
// (runner/view-server/paths.ts), and saves may only create new run folders (runner/view-server/saves.ts).
// Bound to loopback, requests must name a loopback Host (runner/view-server/hosts.ts). This file is the
// server's lifecycle; runner/view-server/routes.ts says which request goes where.
import { createServer } from 'node:http';
import { realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { buildViewer } from './viewer-build.ts';
import { allowedHosts, urlHost } from './hosts.ts';
import { route, type ViewSite } from './routes.ts';
import { RunReads } from './run-reads.ts';
import { RunSaves } from './saves.ts';
import { sendError } from './send.ts';

export { isLoopback } from './hosts.ts';
export { VIEW_DATASETS } from './dataset-files.ts';
export { MAX_UPLOADS } from './saves.ts';

export interface ViewServerOptions {
  /** The runs root (must exist). */
  root: string;
  /** --data-dir, searched first for dataset files. */
  dataDir?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The built viewer; default: a fresh buildViewer(). */
  viewerDir?: string;
  /** Whether pages may save new run folders (false with --read-only). */
  write?: boolean;
}

export interface ViewServer {
  url: string;
  close(): Promise<void>;
}

export async function startViewServer(opts: ViewServerOptions): Promise<ViewServer> {
  const host = opts.host ?? '127.0.0.1';
  const root = resolve(opts.root);
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UserError(`runs root ${root} is not a folder`);
  const realRoot = realpathSync(root);
  const site: ViewSite = {
    root, viewerDir: opts.viewerDir ?? await buildViewer(), dataDir: opts.dataDir,
    reads: new RunReads(root, realRoot), saves: new RunSaves(realRoot, opts.write ?? true), allowedHosts: null,
  };
  const server = createServer((req, res) => { route(site, req, res).catch((e) => sendError(req, res, e)); });
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolveListen(); });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port ?? 0;
  site.allowedHosts = allowedHosts(host, port);
  return {
    url: `http://${urlHost(host)}:${port}`,
    // A browser tab keeps its connections open; drop them so close() (and Ctrl-C) returns at once.
    close: () => new Promise<void>((done) => { server.close(() => done()); server.closeAllConnections(); }),
  };
}
