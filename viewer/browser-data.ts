// The browser's data source: asks the view server which datasets it has (/api/info), fetches the
// four IDX files, gunzips them when they start with the gzip magic (DecompressionStream), and
// parses them with src/data/idx.ts — the same parser and checks as the Node runner.
import { UserError } from '../src/errors.ts';
import type { DatasetSplits } from '../src/data/dataset.ts';
import { idxDataset } from '../src/data/idx.ts';

export interface IdxFiles { trainImages: string; trainLabels: string; testImages: string; testLabels: string }
export type DatasetInfo = { available: true; files: IdxFiles | Record<string, unknown> } | { available: false; reason: string };
export interface ServerInfo { root: string; write: boolean; datasets: Record<string, DatasetInfo> }

/** The datasets a browser run can use: IDX images the size of MNIST (CIFAR-10 is not offered in the tab). */
export const TAB_DATASETS = ['fashion_mnist', 'mnist'] as const;

export class DatasetUnavailableError extends UserError {
  override name = 'DatasetUnavailableError';
}

export async function fetchInfo(): Promise<ServerInfo> {
  const r = await fetch('/api/info');
  if (!r.ok) throw new UserError(`the view server did not answer /api/info (HTTP ${r.status}); start the page with \`earlyphase view\``);
  return await r.json() as ServerInfo;
}

const isGzip = (b: Uint8Array) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new DatasetUnavailableError(`${url}: HTTP ${r.status} from the view server`);
  const raw = new Uint8Array(await r.arrayBuffer());
  if (!isGzip(raw)) return raw;
  const stream = new Blob([raw]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A dataset's train and test splits, or an error naming it and how to make it available. */
export async function loadBrowserDataset(name: string, info: ServerInfo): Promise<DatasetSplits> {
  const d = info.datasets[name];
  if (!d || !d.available) {
    const why = d && !d.available ? d.reason.replace(/\.\s*$/, '') : 'the view server does not know it';
    throw new DatasetUnavailableError(`dataset ${name} is not available: ${why}. Run \`bash runner/setup.sh\` or pass --data-dir to \`earlyphase view\`.`);
  }
  const f = d.files as IdxFiles;
  const [trainImages, trainLabels, testImages, testLabels] = await Promise.all(
    [f.trainImages, f.trainLabels, f.testImages, f.testLabels].map(fetchBytes));
  const file = (url: string) => decodeURIComponent(url.split('/').pop()!);
  return {
    train: idxDataset({ name: `${name}/train`, images: { bytes: trainImages!, name: file(f.trainImages) }, labels: { bytes: trainLabels!, name: file(f.trainLabels) } }),
    test: idxDataset({ name: `${name}/test`, images: { bytes: testImages!, name: file(f.testImages) }, labels: { bytes: testLabels!, name: file(f.testLabels) } }),
  };
}
