// The dataset files a browser tab trains on: those runner/data/datasets.ts locates (--data-dir first),
// so the tab reads the same bytes as the CLI, and nothing else of the folders they are found in.
import { basename } from 'node:path';
import { DatasetNotFoundError, locateDataset } from '../data/datasets.ts';
import { Refusal, resolveWithin, type InsidePath } from './paths.ts';

/** Datasets a browser tab can train on (synthetic is generated in the page, it has no files). */
export const VIEW_DATASETS = ['mnist', 'fashion_mnist', 'cifar10'] as const;
type ViewDataset = (typeof VIEW_DATASETS)[number];

function locate(name: ViewDataset, dataDir: string | undefined) {
  try {
    return locateDataset(name, { dataDir });
  } catch (e) {
    if (e instanceof DatasetNotFoundError) return e;
    throw e;
  }
}

/** For /api/info: each dataset's file URLs (under /data/), or why it is not available. */
export function datasetsInfo(dataDir: string | undefined): Record<string, unknown> {
  const datasets: Record<string, unknown> = {};
  for (const name of VIEW_DATASETS) {
    const found = locate(name, dataDir);
    if (found instanceof Error) { datasets[name] = { available: false, reason: found.message }; continue; }
    const url = (p: string) => `/data/${name}/${encodeURIComponent(basename(p))}`;
    const [trainImages, trainLabels] = found.train.map(url), [testImages, testLabels] = found.test.map(url);
    datasets[name] = {
      available: true,
      files: name === 'cifar10' ? { train: found.train.map(url), test: found.test.map(url) } : { trainImages, trainLabels, testImages, testLabels },
    };
  }
  return datasets;
}

/** Only a file that locateDataset found for that dataset, and only inside the folder it was found in. */
export async function datasetFile(dataDir: string | undefined, segments: string[]): Promise<InsidePath> {
  const [name, file] = segments;
  if (segments.length !== 2 || !(VIEW_DATASETS as readonly string[]).includes(name!)) throw new Refusal(404, `no dataset file ${segments.join('/')}`);
  const found = locate(name as ViewDataset, dataDir);
  if (found instanceof Error) throw new Refusal(404, `dataset ${name} is not available: ${found.message.split('\n')[0]}`);
  if (![...found.train, ...found.test].some((p) => basename(p) === file)) throw new Refusal(404, `${file} is not a file of dataset ${name}`);
  return resolveWithin(found.dir, [file!]);
}
