// `earlyphase view`: builds the viewer, starts the view server on the runs root and prints what it
// serves, then runs until Ctrl-C. Bind errors become one line saying what to do.
import { existsSync, mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../../src/errors.ts';
import { DatasetNotFoundError, locateDataset } from '../data/datasets.ts';
import { buildViewer } from '../view-server/viewer-build.ts';
import { isLoopback, startViewServer, VIEW_DATASETS, type ViewServer } from '../view-server/server.ts';

export interface ViewOptions {
  root: string;
  dataDir?: string;
  host: string;
  port: number;
  readOnly?: boolean;
}

function bindError(e: NodeJS.ErrnoException, host: string, port: number): Error {
  if (e.code === 'EADDRINUSE') return new UserError(`port ${port} on ${host} is already in use (another earlyphase view?); pass --port 0 to pick a free port, or another --port`);
  if (e.code === 'EACCES') return new UserError(`no permission to listen on port ${port}; use a port above 1023, or --port 0 to pick a free one`);
  if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') return new UserError(`--host ${host} is not an address of this machine; use 127.0.0.1 (the default)`);
  return e;
}

export async function runView(opts: ViewOptions): Promise<void> {
  const root = resolve(opts.root);
  if (!existsSync(root)) {
    mkdirSync(root, { recursive: true });
    console.log(`created the runs root ${root} (empty)`);
  }
  const write = !opts.readOnly;
  const viewerDir = await buildViewer();
  let server: ViewServer;
  try {
    server = await startViewServer({ root, dataDir: opts.dataDir, host: opts.host, port: opts.port, viewerDir, write });
  } catch (e) {
    throw bindError(e as NodeJS.ErrnoException, opts.host, opts.port);
  }
  console.log(`earlyphase view: ${server.url}/`);
  const label = (s: string) => `  ${s.padEnd(14)}`;
  console.log(`${label('viewer')}${viewerDir}`);
  console.log(`${label('runs')}${root} (${write ? 'read; pages may save NEW run folders' : 'read-only'})`);
  for (const name of VIEW_DATASETS) {
    try {
      console.log(`${label(name)}${locateDataset(name, { dataDir: opts.dataDir }).dir}`);
    } catch (e) {
      if (!(e instanceof DatasetNotFoundError)) throw e;
      console.log(`${label(name)}not found (the page says where to put it)`);
    }
  }
  if (!isLoopback(opts.host)) {
    console.warn(`warning: listening on ${opts.host}: every run under ${root} is readable by anyone who can reach this machine` +
      `${write ? ', and they can save new run folders there (--read-only forbids it)' : ''}`);
  }
  console.log('Ctrl-C stops the server.');
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await server.close();
  console.log('earlyphase view: stopped');
}
