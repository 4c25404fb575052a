// Which request goes where in the view server: PUT /runs/… saves, GET/HEAD /runs/… run files,
// /api/* the results browser's JSON, /data/* dataset files, anything else the viewer's pages.
// Every path is split and checked by runner/view-server/paths.ts before it is used.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { datasetFile, datasetsInfo } from './dataset-files.ts';
import { checkHost } from './hosts.ts';
import { Refusal, querySegments, resolveWithin, urlSegments } from './paths.ts';
import type { RunReads } from './run-reads.ts';
import type { RunSaves } from './saves.ts';
import { sendFile, sendJson } from './send.ts';

export interface ViewSite {
  /** The runs root, as given (resolved). */
  root: string;
  /** The built viewer's folder. */
  viewerDir: string;
  /** --data-dir, searched first for dataset files. */
  dataDir?: string;
  reads: RunReads;
  saves: RunSaves;
  /** Host headers answered (null: any); set once the server listens (the port is part of them). */
  allowedHosts: Set<string> | null;
}

export async function route(site: ViewSite, req: IncomingMessage, res: ServerResponse): Promise<void> {
  checkHost(req, site.allowedHosts);
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (!path.startsWith('/')) throw new Refusal(400, 'the request target must be a path');
  const method = req.method ?? 'GET';
  const isRuns = path.startsWith('/runs/');
  if (isRuns && method === 'PUT') { sendJson(res, 200, await site.saves.save(req, urlSegments(path.slice('/runs/'.length)))); return; }
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', isRuns ? 'GET, HEAD, PUT' : 'GET, HEAD');
    throw new Refusal(405, `method ${method} is not allowed on ${isRuns ? '/runs/' : 'this path'}`);
  }
  if (isRuns) {
    const segs = urlSegments(path.slice('/runs/'.length));
    await sendFile(req, res, await resolveWithin(site.root, segs), segs.at(-1) ?? '');
  } else if (path === '/api/info') sendJson(res, 200, info(site));
  else if (path === '/api/list') sendJson(res, 200, await site.reads.list(querySegments(query.get('dir'))));
  else if (path === '/api/files') sendJson(res, 200, await site.reads.files(querySegments(query.get('dir'))));
  else if (path.startsWith('/api/')) throw new Refusal(404, `no API route ${path}`);
  else if (path.startsWith('/data/')) {
    const segs = urlSegments(path.slice('/data/'.length));
    await sendFile(req, res, await datasetFile(site.dataDir, segs), segs[1]!);
  } else {
    const segs = path === '/' ? ['index.html'] : urlSegments(path.slice(1));
    await sendFile(req, res, await resolveWithin(site.viewerDir, segs), segs.at(-1)!);
  }
}

/** /api/info: the runs root, whether pages may save (and how many saves are in progress), the datasets a tab can train on. */
function info(site: ViewSite) {
  const datasets = datasetsInfo(site.dataDir);
  return { root: site.root, write: site.saves.write, uploads: site.saves.uploads, datasets };
}
