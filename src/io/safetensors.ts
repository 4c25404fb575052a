// The safetensors checkpoint format (huggingface/safetensors), bytes in and bytes out, so the
// same code serves the CLI's files and the browser's storage. Layout: an 8-byte little-endian
// header length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {string: string}}, then the tensor bytes (little-endian), offsets relative to
// the end of the header. The reader trusts nothing in the header: every way a header can lie is
// rejected with a message naming the file, before any tensor is handed out (no partial loads).
import { UserError } from '../errors.ts';

export class SafetensorsError extends UserError {
  override name = 'SafetensorsError';
}

export type Dtype = 'F32' | 'F64' | 'I64' | 'I32' | 'U32' | 'U8';
// I64 is what PyTorch stores a batch-norm layer's `num_batches_tracked` in; it reads as a
// BigInt64Array (values past 2^53 stay exact), so code that wants numbers must convert.
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint32Array | Uint8Array;

const DTYPES: Record<Dtype, { size: number; make: (b: ArrayBuffer) => TensorData; is: (a: TensorData) => boolean }> = {
  F32: { size: 4, make: (b) => new Float32Array(b), is: (a) => a instanceof Float32Array },
  F64: { size: 8, make: (b) => new Float64Array(b), is: (a) => a instanceof Float64Array },
  I64: { size: 8, make: (b) => new BigInt64Array(b), is: (a) => a instanceof BigInt64Array },
  I32: { size: 4, make: (b) => new Int32Array(b), is: (a) => a instanceof Int32Array },
  U32: { size: 4, make: (b) => new Uint32Array(b), is: (a) => a instanceof Uint32Array },
  U8: { size: 1, make: (b) => new Uint8Array(b), is: (a) => a instanceof Uint8Array },
};
const DTYPE_NAMES = Object.keys(DTYPES).join(', ');
// Bounds checked on the raw header text BEFORE JSON.parse, so a crafted file costs a linear scan,
// not a parse (1,000,000 empty tensors took 37.6 s and 1.5 GB) or a recursion (100,000 nested
// levels overflowed the stack). Our largest checkpoint (ResNet-20: weights, momenta, masks) has
// a header of a few hundred entries and ~50 KB; a converted PyTorch model of ours is the same size.
/** Header bytes (the reference implementation allows 100 MB; 16 MiB is 300× what we write). */
export const MAX_HEADER = 16 * 2 ** 20;
/** Top-level entries (tensors plus __metadata__). */
export const MAX_ENTRIES = 65_536;
/** Nesting: the header object, a tensor entry (or the metadata), a shape or data_offsets array. */
export const MAX_DEPTH = 3;
/** Longest piece of the file quoted in an error: messages stay one short line whatever the file holds. */
const QUOTE_CHARS = 80;
const METADATA = '__metadata__';
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface Tensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** What a writer is given; dtype defaults to the one the typed array implies. */
export interface TensorInput {
  shape: readonly number[];
  data: TensorData;
  dtype?: Dtype;
}

// ---------------------------------------------------------------- writing

/**
 * Serialises tensors and string metadata. Tensors are laid out by element size (largest first)
 * then name, so every tensor starts aligned to its element size and the output does not depend
 * on insertion order (equal checkpoints are equal bytes, which checksums rely on).
 */
export function encodeSafetensors(
  tensors: ReadonlyMap<string, TensorInput> | Record<string, TensorInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)) as [string, TensorInput][];
  const laid = entries.map(([name, t]) => ({ name, dtype: inputDtype(name, t), t }));
  laid.sort((a, b) => DTYPES[b.dtype].size - DTYPES[a.dtype].size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new SafetensorsError(`safetensors metadata "${k}" must be a string, got ${typeof v}`);
  }
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header[METADATA] = metadata;
  let offset = 0;
  for (const { name, dtype, t } of laid) {
    header[name] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8; // spaces so the data starts 8-byte aligned
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded, true);
  view.setUint32(4, 0, true);
  out.fill(0x20, 8, 8 + padded);
  out.set(json, 8);
  let at = 8 + padded;
  for (const { dtype, t } of laid) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, at);
    if (!LITTLE_ENDIAN_HOST) swapBytes(out.subarray(at, at + bytes.length), DTYPES[dtype].size);
    at += bytes.length;
  }
  return out;
}

function inputDtype(name: string, t: TensorInput): Dtype {
  if (name === METADATA) throw new SafetensorsError(`"${METADATA}" is reserved for metadata and cannot name a tensor`);
  const dtype = t.dtype ?? (Object.keys(DTYPES) as Dtype[]).find((d) => DTYPES[d].is(t.data));
  if (dtype === undefined || !(dtype in DTYPES)) {
    throw new SafetensorsError(`tensor "${name}": unsupported data ${t.data?.constructor?.name ?? typeof t.data}/${t.dtype}; use one of ${DTYPE_NAMES}`);
  }
  if (!DTYPES[dtype].is(t.data)) throw new SafetensorsError(`tensor "${name}": dtype ${dtype} does not match its ${t.data.constructor.name}`);
  const n = elementCount(t.shape);
  if (n === undefined) throw new SafetensorsError(`tensor "${name}": shape [${t.shape.join(', ')}] must be non-negative integers`);
  if (n !== t.data.length) throw new SafetensorsError(`tensor "${name}": shape [${t.shape.join(', ')}] has ${n} elements but the data has ${t.data.length}`);
  return dtype;
}

// ---------------------------------------------------------------- reading

/** Parses and fully validates a safetensors file; `name` (usually the path) starts every error message. */
export function decodeSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  const fail = (what: string): never => { throw new SafetensorsError(`${name}: ${what}`); };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint32(4, true) * 2 ** 32 + view.getUint32(0, true);
  if (n > MAX_HEADER) fail(`header length ${n} exceeds the ${MAX_HEADER}-byte limit (not a checkpoint of ours, or corrupt)`);
  if (8 + n > bytes.length) fail(`header length ${n} runs past the end of the file (${bytes.length} bytes): truncated or corrupt`);
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.trimStart().startsWith('{')) fail('header is not a JSON object (it must start with "{")');
  const shapeFault = scanHeader(text);
  if (shapeFault !== undefined) fail(shapeFault);
  let header: Record<string, unknown> = {};
  try {
    header = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    fail(`header is not valid JSON: ${clip((e as Error).message)}`);
  }

  const dataStart = 8 + n, dataSize = bytes.length - dataStart;
  const metadata = parseMetadata(header[METADATA], fail);
  const entries: { key: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [key, info] of Object.entries(header)) {
    if (key !== METADATA) entries.push({ key, ...parseEntry(key, info, fail) });
  }
  // The tensors must tile the data section exactly: no overlaps (two names for one byte), no
  // gaps or tail (bytes nobody owns usually mean a truncated header or an appended file).
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of byOffset) {
    if (e.end > dataSize) fail(`tensor ${quote(e.key)} data_offsets [${e.begin}, ${e.end}] run past the data section (${dataSize} bytes): truncated file?`);
    if (e.begin < covered) fail(`tensor ${quote(e.key)} data_offsets [${e.begin}, ${e.end}] overlap another tensor's bytes (which end at ${covered})`);
    if (e.begin > covered) fail(`data bytes [${covered}, ${e.begin}) belong to no tensor (before ${quote(e.key)})`);
    covered = e.end;
  }
  if (covered !== dataSize) fail(`data bytes [${covered}, ${dataSize}) belong to no tensor: the header does not describe the whole file`);

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    // A copy with its own ArrayBuffer (aligned for the typed view). Not bytes.slice(): on a Node Buffer
    // slice is a view into a shared pool, and the typed array below would read the pool's start.
    const own = new Uint8Array(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    if (!LITTLE_ENDIAN_HOST) swapBytes(own, DTYPES[e.dtype].size);
    tensors.set(e.key, { dtype: e.dtype, shape: e.shape, data: DTYPES[e.dtype].make(own.buffer) });
  }
  return { tensors, metadata };
}

function parseMetadata(raw: unknown, fail: (what: string) => never): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) fail(`"${METADATA}" must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as object)) {
    if (typeof v !== 'string') fail(`"${METADATA}".${quote(k)} must be a string, got ${quote(v)}`);
    out[k] = v as string;
  }
  return out;
}

function parseEntry(key: string, info: unknown, fail: (what: string) => never): { dtype: Dtype; shape: number[]; begin: number; end: number } {
  const where = `tensor ${quote(key)}`;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) fail(`${where}: expected {dtype, shape, data_offsets}, got ${quote(info)}`);
  const { dtype, shape, data_offsets: offsets, ...rest } = info as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) fail(`${where}: unknown field(s) ${clip(extra.join(', '))} (expected dtype, shape, data_offsets)`);
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) fail(`${where}: unsupported dtype ${quote(dtype)} (this reader handles ${DTYPE_NAMES})`);
  const count = Array.isArray(shape) ? elementCount(shape) : undefined;
  if (count === undefined) fail(`${where}: shape ${quote(shape)} must be an array of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    fail(`${where}: data_offsets ${quote(offsets)} must be [begin, end] with 0 ≤ begin ≤ end`);
  }
  const [begin, end] = offsets as [number, number];
  const size = DTYPES[dtype as Dtype].size;
  if (count! * size !== end - begin) {
    fail(`${where}: ${dtype} shape ${clip(`[${(shape as number[]).join(', ')}]`)} needs ${count! * size} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { dtype: dtype as Dtype, shape: [...(shape as number[])], begin, end };
}

/** Element count, or undefined when a dim is not a non-negative integer or the product is not exact. */
function elementCount(shape: readonly unknown[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return undefined;
    n *= d;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * One linear pass over the header text, before JSON.parse: the fault in a header too deep, with
 * too many entries or naming a key twice in one object (JSON.parse would keep the last of two
 * equal keys silently: a header naming a tensor twice is lying about one of them). Malformed
 * JSON is left to JSON.parse; the scan only has to stay linear and not crash on it.
 */
function scanHeader(text: string): string | undefined {
  const stack: ({ keys: Set<string>; expectKey: boolean } | null)[] = [];
  let entries = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const top = stack[stack.length - 1];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) return undefined; // unterminated string: JSON.parse names it
      if (top?.expectKey) {
        let key: string;
        try { key = JSON.parse(text.slice(i, j + 1)) as string; } catch { return undefined; }
        if (top.keys.has(key)) return `header names ${quote(key)} twice`;
        top.keys.add(key);
        top.expectKey = false;
        if (stack.length === 1 && ++entries > MAX_ENTRIES) return `header has more than ${MAX_ENTRIES} entries (not a checkpoint of ours, or corrupt)`;
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      if (stack.length === MAX_DEPTH) return `header nests deeper than ${MAX_DEPTH} levels (a safetensors header is {name: {dtype, shape: [...], data_offsets: [...]}})`;
      stack.push(ch === '{' ? { keys: new Set(), expectKey: true } : null);
    } else if (ch === '}' || ch === ']') stack.pop();
    else if (ch === ',' && top) top.expectKey = true;
  }
  return undefined;
}

/** A value for an error message: JSON, cut to QUOTE_CHARS so a 40 MB string stays a short line. */
function quote(v: unknown): string {
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  return clip(s);
}

function clip(s: string): string {
  const flat = s.replace(/[\r\n]+/g, ' ');
  return flat.length <= QUOTE_CHARS ? flat : `${flat.slice(0, QUOTE_CHARS)}… (${flat.length} characters)`;
}

function swapBytes(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

// ---------------------------------------------------------------- checking against a model

export interface TensorSpec {
  shape: readonly number[];
  dtype?: Dtype;
}

export interface TensorCheck {
  ok: boolean;
  /** In the model, not in the file. */
  missing: string[];
  /** In the file, not in the model. */
  unexpected: string[];
  shapeMismatches: { name: string; expected: number[]; actual: number[] }[];
  dtypeMismatches: { name: string; expected: Dtype; actual: Dtype }[];
}

/** Compares a file's tensors with the names, shapes (and optionally dtypes) a model has. */
export function checkTensors(
  file: SafetensorsFile,
  expected: ReadonlyMap<string, TensorSpec> | Record<string, TensorSpec>,
): TensorCheck {
  const want = expected instanceof Map ? expected as ReadonlyMap<string, TensorSpec> : new Map(Object.entries(expected));
  const r: TensorCheck = { ok: true, missing: [], unexpected: [], shapeMismatches: [], dtypeMismatches: [] };
  for (const [name, spec] of want) {
    const t = file.tensors.get(name);
    if (!t) { r.missing.push(name); continue; }
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      r.shapeMismatches.push({ name, expected: [...spec.shape], actual: [...t.shape] });
    }
    if (spec.dtype !== undefined && spec.dtype !== t.dtype) r.dtypeMismatches.push({ name, expected: spec.dtype, actual: t.dtype });
  }
  for (const name of file.tensors.keys()) if (!want.has(name)) r.unexpected.push(name);
  r.ok = r.missing.length + r.unexpected.length + r.shapeMismatches.length + r.dtypeMismatches.length === 0;
  return r;
}

/** Throws a SafetensorsError naming the file and every difference, unless the file matches the model. */
export function expectTensors(
  file: SafetensorsFile,
  expected: ReadonlyMap<string, TensorSpec> | Record<string, TensorSpec>,
  name: string,
): void {
  const r = checkTensors(file, expected);
  if (r.ok) return;
  const list = (xs: string[]) => xs.slice(0, 20).join(', ') + (xs.length > 20 ? `, … (${xs.length - 20} more)` : '');
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing ${list(r.missing)}`);
  if (r.unexpected.length) parts.push(`unexpected ${list(r.unexpected)}`);
  if (r.shapeMismatches.length) {
    parts.push(`shape mismatch ${list(r.shapeMismatches.map((m) => `${m.name} is [${m.actual.join(', ')}] in the file, the model has [${m.expected.join(', ')}]`))}`);
  }
  if (r.dtypeMismatches.length) {
    parts.push(`dtype mismatch ${list(r.dtypeMismatches.map((m) => `${m.name} is ${m.actual}, expected ${m.expected}`))}`);
  }
  throw new SafetensorsError(`${name}: does not match the model (was it written for another architecture?): ${parts.join('; ')}`);
}
