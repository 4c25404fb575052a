// The browser's data source: asks the view server which datasets it has (/api/info), fetches the
// four IDX files, gunzips them when they start with the gzip magic (DecompressionStream, only up
// to the size the IDX header declares), and parses them with src/data/idx.ts — the same parser,
// bounds and checks as the Node runner.
import { UserError } from '../src/errors.ts';
import { BoundedCollector, idxBound, type SizeBound } from '../src/data/bounded.ts';
import { makeSplits, type DatasetSplits } from '../src/data/dataset.ts';
import { IDX_DATASET_SHAPES, idxDataset } from '../src/data/idx.ts';

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

/** Gunzips `raw`, reading the stream only until the output passes `bound` (then cancels it). */
export async function gunzipBounded(raw: Uint8Array, name: string, bound: SizeBound): Promise<Uint8Array> {
  const reader = new Blob([raw as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const out = new BoundedCollector(name, bound);
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out.result();
    try {
      out.push(value);
    } catch (e) {
      await reader.cancel().catch(() => {});
      throw e;
    }
  }
}

async function fetchBytes(url: string, ndims: number): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new DatasetUnavailableError(`${url}: HTTP ${r.status} from the view server`);
  const raw = new Uint8Array(await r.arrayBuffer());
  return isGzip(raw) ? gunzipBounded(raw, decodeURIComponent(url.split('/').pop()!), idxBound(ndims)) : raw;
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
    ([[f.trainImages, 3], [f.trainLabels, 1], [f.testImages, 3], [f.testLabels, 1]] as const).map(([url, ndims]) => fetchBytes(url, ndims)));
  const file = (url: string) => decodeURIComponent(url.split('/').pop()!);
  const shape = IDX_DATASET_SHAPES[name];
  return makeSplits(
    idxDataset({ name: `${name}/train`, images: { bytes: trainImages!, name: file(f.trainImages) }, labels: { bytes: trainLabels!, name: file(f.trainLabels) }, shape }),
    idxDataset({ name: `${name}/test`, images: { bytes: testImages!, name: file(f.testImages) }, labels: { bytes: testLabels!, name: file(f.testLabels) }, shape }),
    { train: file(f.trainImages), test: file(f.testImages) });
}
