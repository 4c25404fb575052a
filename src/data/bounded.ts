// Decompressing a dataset file without trusting it: the output is collected only up to the size
// the file's own first bytes declare (an IDX header), so a small .gz cannot expand to gigabytes —
// a 1 MB bomb of 1 GiB took 2.2 GB and 21 s before the size check refused it. Shared by the Node
// runner (zlib) and the browser tab (DecompressionStream): both push chunks into a collector.
import { DataFormatError } from './dataset.ts';
import { idxDeclaredSize, idxDims, idxHeaderBytes } from './idx.ts';

/** The largest file a dataset may inflate to (MNIST's train images are 47 MB, a CIFAR-10 batch 31 MB). */
export const MAX_DATA_FILE_BYTES = 2 ** 30;

/** How big a file may be once decompressed, decided from its first bytes. */
export interface SizeBound {
  /** Bytes the bound is decided from (the IDX header); 0 when the bound is fixed. */
  headBytes: number;
  /** The most bytes allowed and why; throws DataFormatError when the head is malformed. */
  limit(head: Uint8Array, name: string): { bytes: number; why: string };
}

/** An IDX file with `ndims` dims: exactly the size its header declares. */
export function idxBound(ndims: number): SizeBound {
  return {
    headBytes: idxHeaderBytes(ndims),
    limit: (head, name) => {
      const dims = idxDims(head, name, ndims);
      return { bytes: idxDeclaredSize(dims), why: `its IDX header (${dims.join('×')}) declares` };
    },
  };
}

/** Collects decompressed chunks; push() throws DataFormatError (naming the file) once they pass the bound. */
export class BoundedCollector {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private cap: { bytes: number; why: string } | undefined;

  constructor(private readonly name: string, private readonly bound?: SizeBound) {
    if (!bound) this.cap = { bytes: MAX_DATA_FILE_BYTES, why: 'a dataset file may hold' };
    else if (bound.headBytes === 0) this.cap = bound.limit(new Uint8Array(0), name);
  }

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    if (!this.cap && this.size >= this.bound!.headBytes) {
      const cap = this.bound!.limit(this.concat(this.bound!.headBytes), this.name);
      if (cap.bytes > MAX_DATA_FILE_BYTES) {
        throw new DataFormatError(`${this.name}: ${cap.why} ${cap.bytes} bytes, more than the ${MAX_DATA_FILE_BYTES}-byte limit for a dataset file; the file is corrupt`);
      }
      this.cap = cap;
    }
    const cap = this.cap ?? { bytes: MAX_DATA_FILE_BYTES, why: 'a dataset file may hold' };
    if (this.size > cap.bytes) {
      this.chunks = [];
      throw new DataFormatError(`${this.name}: decompresses to more than the ${cap.bytes} bytes ${cap.why}; ` +
        'the file is corrupt or not what its name says: download it again');
    }
  }

  /** Everything pushed, as one array. */
  result(): Uint8Array {
    return this.concat(this.size);
  }

  private concat(n: number): Uint8Array {
    if (this.chunks.length === 1 && this.chunks[0]!.length === n) return this.chunks[0]!;
    const out = new Uint8Array(n);
    let at = 0;
    for (const c of this.chunks) {
      if (at >= n) break;
      const part = c.subarray(0, n - at);
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}
