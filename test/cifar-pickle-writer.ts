// Writes CIFAR-10 Python batches the way the published files were written (Python 2's cPickle,
// protocol 2) without Python, for tests: a dict {'batch_label', 'labels', 'data', 'filenames'}
// whose 'data' is numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b') built with
// (1, (N, 3072), dtype('u1', 0, 1) built with (3, '|', None, None, None, -1, -1, 0), False, raw).
// Strings are Python 2 str (SHORT_BINSTRING / BINSTRING), lists are filled with APPENDS in
// batches of 1,000 and dicts with SETITEMS, and everything cPickle memoises gets a BINPUT.

class Writer {
  private chunks: Uint8Array[] = [];
  private memo = 0;

  op(...bytes: number[]): this { this.chunks.push(Uint8Array.from(bytes)); return this; }
  raw(b: Uint8Array): this { this.chunks.push(b); return this; }
  u32(v: number): this { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); return this.raw(b); }
  put(): this { return this.memo < 256 ? this.op(0x71, this.memo++) : this.op(0x72).u32(this.memo++); }
  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >> 8);
    return this.op(0x4a).u32(v);
  }
  str(s: string | Uint8Array): this {
    const b = typeof s === 'string' ? Uint8Array.from(s, (c) => c.charCodeAt(0)) : s;
    (b.length < 256 ? this.op(0x55, b.length) : this.op(0x54).u32(b.length)).raw(b);
    return this.put();
  }
  global(module: string, name: string): this { return this.op(0x63).str8(`${module}\n${name}\n`).put(); }
  str8(s: string): this { return this.raw(Uint8Array.from(s, (c) => c.charCodeAt(0))); }
  list(emit: ((w: Writer) => void)[]): this {
    this.op(0x5d).put();
    for (let i = 0; i < emit.length; i += 1000) {
      this.op(0x28);
      for (const e of emit.slice(i, i + 1000)) e(this);
      this.op(0x65);
    }
    return this;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

export interface PickleOptions {
  /** numpy dtype string of 'data' (default 'u1'). */
  dtype?: string;
  /** Declared shape of 'data' (default [N, 3072]). */
  shape?: number[];
}

/** A pickled CIFAR-10 batch of N images (N×3072 bytes, planar RGB rows) and N labels. */
export function encodeCifarPickle(images: Uint8Array, labels: ArrayLike<number>, opts: PickleOptions = {}): Uint8Array {
  const n = labels.length;
  const w = new Writer().op(0x80, 2).op(0x7d).put().op(0x28);
  w.str('batch_label').str('testing batch 1 of 1');
  w.str('labels').list(Array.from(labels, (l) => (x: Writer) => x.int(l)));
  w.str('data').global('numpy.core.multiarray', '_reconstruct').global('numpy', 'ndarray').int(0).op(0x85).put().str('b').op(0x87).put().op(0x52).put();
  w.op(0x28).int(1);
  const shape = opts.shape ?? [n, 3072];
  w.op(0x28); for (const d of shape) w.int(d); w.op(0x74).put();
  w.global('numpy', 'dtype').str(opts.dtype ?? 'u1').int(0).int(1).op(0x87).put().op(0x52).put();
  w.op(0x28).int(3).str('|').op(0x4e, 0x4e, 0x4e).int(-1).int(-1).int(0).op(0x74).put().op(0x62);
  w.op(0x89).str(images).op(0x74).put().op(0x62);
  w.str('filenames').list(Array.from({ length: n }, (_, i) => (x: Writer) => x.str(`image_${i}.png`)));
  return w.op(0x75, 0x2e).bytes();
}
