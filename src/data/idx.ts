// IDX files (MNIST, Fashion-MNIST): a 4-byte magic (0, 0, element type, number of dims), the
// dims as big-endian uint32, then the elements. Only unsigned bytes (type 0x08) occur in the
// datasets we read, so only those are accepted. Parsers take bytes already decompressed (the
// runner gunzips) plus the file's name, which every error message starts with.
import { DataFormatError, makeDataset, type Dataset } from './dataset.ts';

const UBYTE = 0x08;
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

export interface IdxArray {
  readonly dims: number[];
  /** A view into the input bytes (no copy). */
  readonly data: Uint8Array;
}

/** Bytes before the data in an IDX file with `ndims` dimensions. */
export function idxHeaderBytes(ndims: number): number {
  return 4 + 4 * ndims;
}

/**
 * The dims a header declares, after checking its magic: enough to know the file's exact size
 * from its first idxHeaderBytes(ndims) bytes (the runner caps a gzip stream with it).
 */
export function idxDims(head: Uint8Array, name: string, ndims: number): number[] {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    throw new DataFormatError(`${name}: is gzip-compressed; decompress it first (the runner does this for .gz files)`);
  }
  if (head.length < 4) throw new DataFormatError(`${name}: truncated IDX file (${head.length} bytes, the magic alone is 4)`);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const magic = view.getUint32(0, false);
  const want = (UBYTE << 8) | ndims;
  if (magic !== want) {
    throw new DataFormatError(`${name}: IDX magic is 0x${hex8(magic)}, expected 0x${hex8(want)} ` +
      `(unsigned bytes, ${ndims} dims${ndims === 3 ? ': an images file' : ndims === 1 ? ': a labels file' : ''})`);
  }
  const header = idxHeaderBytes(ndims);
  if (head.length < header) {
    throw new DataFormatError(`${name}: truncated IDX header (${head.length} bytes, expected ${header} for ${ndims} dims)`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return dims;
}

/** The whole file's size as its header declares it (header + one byte per element). */
export function idxDeclaredSize(dims: readonly number[]): number {
  return idxHeaderBytes(dims.length) + dims.reduce((a, b) => a * b, 1); // ≤ 2^96 in theory; as a float still exact enough to compare
}

/** Parses an unsigned-byte IDX array with exactly `ndims` dimensions; the magic must be 0x000008<ndims>. */
export function parseIdx(bytes: Uint8Array, name: string, ndims: number): IdxArray {
  const dims = idxDims(bytes, name, ndims);
  const header = idxHeaderBytes(ndims);
  const elements = idxDeclaredSize(dims) - header;
  const body = bytes.length - header;
  if (elements !== body) {
    throw new DataFormatError(`${name}: header dims ${dims.join('×')} need ${elements} data bytes but the file has ${body} ` +
      `(${body < elements ? 'truncated' : 'trailing bytes'})`);
  }
  return { dims, data: bytes.subarray(header) };
}

/** An images file (magic 0x00000803): count×rows×cols grey bytes. */
export function parseIdxImages(bytes: Uint8Array, name: string): { count: number; height: number; width: number; pixels: Uint8Array } {
  const { dims, data } = parseIdx(bytes, name, 3);
  return { count: dims[0]!, height: dims[1]!, width: dims[2]!, pixels: data };
}

/** A labels file (magic 0x00000801); every label must be < classes. */
export function parseIdxLabels(bytes: Uint8Array, name: string, classes = 10): Uint8Array {
  const { data } = parseIdx(bytes, name, 1);
  const bad = data.findIndex((l) => l >= classes);
  if (bad >= 0) throw new DataFormatError(`${name}: label ${data[bad]} at index ${bad} is not a class (expected 0..${classes - 1})`);
  return data;
}

/** Image sizes the IDX datasets define; a header that disagrees is another dataset or corrupt. */
export const IDX_DATASET_SHAPES: Readonly<Record<string, { height: number; width: number }>> = {
  mnist: { height: 28, width: 28 },
  fashion_mnist: { height: 28, width: 28 },
};

export interface IdxPair {
  /** Name of the split, e.g. "fashion_mnist/train". */
  name: string;
  images: { bytes: Uint8Array; name: string };
  labels: { bytes: Uint8Array; name: string };
  classes?: number;
  /** Image size the dataset defines (28×28 for MNIST and Fashion-MNIST); other headers are refused. */
  shape?: { height: number; width: number };
}

/** One split from an images file and its labels file; the pixel bytes are copied so the file buffers can be dropped. */
export function idxDataset(p: IdxPair): Dataset {
  const classes = p.classes ?? 10;
  const img = parseIdxImages(p.images.bytes, p.images.name);
  if (img.count === 0) throw new DataFormatError(`${p.images.name}: holds 0 images (header dims 0×${img.height}×${img.width}); a split needs at least one`);
  if (p.shape && (img.height !== p.shape.height || img.width !== p.shape.width)) {
    // e.g. 60000×1×784: the same bytes as 28×28 to a fully connected net, but not the dataset's images.
    throw new DataFormatError(`${p.images.name}: header says ${img.count}×${img.height}×${img.width}, but ${p.name.split('/')[0]} images are ` +
      `${p.shape.height}×${p.shape.width}; the file is corrupt or from another dataset`);
  }
  const labels = parseIdxLabels(p.labels.bytes, p.labels.name, classes);
  if (labels.length !== img.count) {
    throw new DataFormatError(`${p.images.name} has ${img.count} images but ${p.labels.name} has ${labels.length} labels; ` +
      'they must come from the same split');
  }
  return makeDataset({
    name: p.name, images: img.pixels.slice(), labels: labels.slice(),
    count: img.count, channels: 1, height: img.height, width: img.width, classes,
  });
}

/** Writes an unsigned-byte IDX array (tests generate files with it; also handy for exporting subsets). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const elements = dims.reduce((a, b) => a * b, 1);
  if (elements !== data.length) throw new DataFormatError(`encodeIdx: dims ${dims.join('×')} need ${elements} bytes, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, (UBYTE << 8) | dims.length, false);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
