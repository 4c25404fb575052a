// A minimal, bounded reader for the Python pickles torchvision's CIFAR-10 download holds
// (cifar-10-batches-py/data_batch_1…5, test_batch: written by Python 2's cPickle, protocol 2).
// Each is a dict {'batch_label': str, 'labels': [int], 'data': numpy uint8 array, 'filenames': [str]};
// the array is pickled as numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), 'b') then BUILD
// with (version, shape, dtype, fortran, raw bytes), its dtype as numpy.dtype('u1', 0, 1) then BUILD.
//
// Only the opcodes such files use are read (protocol 2, plus protocol 3's byte strings); anything
// else is an error naming the file, the opcode and its offset. Nothing is ever executed or
// imported: GLOBAL resolves only the three numpy names above, to inert markers, and REDUCE/BUILD
// only assemble those markers into a description of the array. Every length is checked against the
// bytes left before it is used, the stack and memo are capped, and the parser never recurses.
import { DataFormatError } from './dataset.ts';

export type PyValue =
  | null | boolean | number | string
  | { kind: 'bytes'; data: Uint8Array }
  | { kind: 'list'; items: PyValue[] }
  | { kind: 'tuple'; items: PyValue[] }
  | { kind: 'dict'; entries: Map<string, PyValue> }
  | { kind: 'global'; name: NumpyGlobal }
  | { kind: 'dtype'; descr: string }
  | NdArray;

export interface NdArray { kind: 'ndarray'; shape: number[]; dtype: string | null; fortran: boolean; data: Uint8Array | null }

const NUMPY_GLOBALS = ['numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype'] as const;
type NumpyGlobal = (typeof NUMPY_GLOBALS)[number];

/** Stack entries: a real CIFAR batch never has more than ~1,000 (SETITEMS/APPENDS batch 1,000 items). */
export const MAX_STACK = 100_000;
/** Memo entries: a batch memoises ~10,000 file names; 100× that is still a few tens of MB. */
export const MAX_MEMO = 1_000_000;

const MARK = Symbol('mark');
type Slot = PyValue | typeof MARK;

const NAMES: Record<number, string> = {
  0x80: 'PROTO', 0x2e: 'STOP', 0x28: 'MARK', 0x7d: 'EMPTY_DICT', 0x5d: 'EMPTY_LIST', 0x29: 'EMPTY_TUPLE',
  0x75: 'SETITEMS', 0x73: 'SETITEM', 0x65: 'APPENDS', 0x61: 'APPEND', 0x74: 'TUPLE', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3',
  0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x68: 'BINGET', 0x6a: 'LONG_BINGET', 0x4b: 'BININT1', 0x4d: 'BININT2', 0x4a: 'BININT',
  0x55: 'SHORT_BINSTRING', 0x54: 'BINSTRING', 0x43: 'SHORT_BINBYTES', 0x42: 'BINBYTES', 0x58: 'BINUNICODE',
  0x4e: 'NONE', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x63: 'GLOBAL', 0x52: 'REDUCE', 0x62: 'BUILD',
};

/** What a value is, for error messages (never its contents: a value may be megabytes). */
export function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v !== 'object') return typeof v === 'string' ? 'a str' : typeof v === 'number' ? 'an int' : 'a bool';
  if (v.kind === 'global') return v.name;
  return v.kind === 'ndarray' ? 'a numpy array' : v.kind === 'dtype' ? 'a numpy dtype' : `a ${v.kind}`;
}

/** The value a pickle holds; `name` (the file) starts every error. */
export function readPickle(bytes: Uint8Array, name: string): PyValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PyValue>();
  let at = 0, op = 0, opAt = 0;
  const fail = (what: string): never => {
    throw new DataFormatError(`${name}: not a CIFAR-10 Python batch this reader handles: ${what} (${NAMES[op] ?? 'opcode'} at byte ${opAt}); ` +
      'the file is corrupt or truncated: download it again, or use the binary version (cifar-10-batches-bin)');
  };
  const need = (n: number) => { if (n > bytes.length - at) fail(`needs ${n} more bytes but the file ends ${bytes.length - at} bytes later (truncated?)`); };
  const u8 = () => { need(1); return bytes[at++]!; };
  const u16 = () => { need(2); const v = view.getUint16(at, true); at += 2; return v; };
  const u32 = () => { need(4); const v = view.getUint32(at, true); at += 4; return v; };
  const i32 = () => { need(4); const v = view.getInt32(at, true); at += 4; return v; };
  const take = (n: number) => { need(n); const b = bytes.subarray(at, at + n); at += n; return b; };
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0 || end - at > 256) fail('a GLOBAL name is not a short newline-terminated line');
    const s = latin1(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const push = (v: Slot) => { if (stack.length >= MAX_STACK) fail(`more than ${MAX_STACK} values on the stack`); stack.push(v); };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail('the stack is empty where a value is needed');
    return v as PyValue;
  };
  const top = (): PyValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('the stack is empty where a value is needed');
    return v as PyValue;
  };
  /** The values above the topmost MARK, removing them and the mark. */
  const popMark = (): PyValue[] => {
    const m = stack.lastIndexOf(MARK);
    if (m < 0) fail('no MARK before it');
    const items = stack.splice(m + 1) as PyValue[];
    stack.pop();
    return items;
  };
  const setItems = (dict: PyValue, kv: PyValue[]) => {
    if (!isKind(dict, 'dict')) fail(`sets items on ${describe(dict)}, not a dict`);
    for (let i = 0; i < kv.length; i += 2) (dict as { entries: Map<string, PyValue> }).entries.set(key(kv[i]!, fail), kv[i + 1]!);
  };
  const append = (list: PyValue, items: PyValue[]) => {
    if (!isKind(list, 'list')) fail(`appends to ${describe(list)}, not a list`);
    (list as { items: PyValue[] }).items.push(...items);
  };
  const put = (i: number) => {
    if (memo.size >= MAX_MEMO && !memo.has(i)) fail(`more than ${MAX_MEMO} memo entries`);
    memo.set(i, top());
  };
  const get = (i: number) => { const v = memo.get(i); if (v === undefined) fail(`memo entry ${i} was never stored`); push(v!); };

  for (;;) {
    opAt = at;
    if (at >= bytes.length) { op = 0; fail('the file ends before the pickle\'s STOP'); }
    op = bytes[at++]!;
    switch (op) {
      case 0x80: { const p = u8(); if (p < 2 || p > 3) fail(`pickle protocol ${p}; torchvision's batches are protocol 2`); break; }
      case 0x2e: { // STOP
        const v = pop();
        if (stack.length !== 0) fail(`${stack.length} values left on the stack at STOP`);
        if (at !== bytes.length) fail(`${bytes.length - at} bytes after the pickle's STOP`);
        return v;
      }
      case 0x28: push(MARK); break;
      case 0x7d: push({ kind: 'dict', entries: new Map() }); break;
      case 0x5d: push({ kind: 'list', items: [] }); break;
      case 0x29: push({ kind: 'tuple', items: [] }); break;
      case 0x75: { const kv = popMark(); if (kv.length % 2) fail('SETITEMS with an odd number of values'); setItems(top(), kv); break; }
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; }
      case 0x65: { const items = popMark(); append(top(), items); break; }
      case 0x61: { const v = pop(); append(top(), [v]); break; }
      case 0x74: push({ kind: 'tuple', items: popMark() }); break;
      case 0x85: case 0x86: case 0x87: {
        const n = op - 0x84, items: PyValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        push({ kind: 'tuple', items });
        break;
      }
      case 0x71: put(u8()); break;
      case 0x72: put(u32()); break;
      case 0x68: get(u8()); break;
      case 0x6a: get(u32()); break;
      case 0x4b: push(u8()); break;
      case 0x4d: push(u16()); break;
      case 0x4a: push(i32()); break;
      case 0x55: case 0x43: push({ kind: 'bytes', data: take(u8()) }); break;
      case 0x54: { const n = i32(); if (n < 0) fail(`negative string length ${n}`); push({ kind: 'bytes', data: take(n) }); break; }
      case 0x42: push({ kind: 'bytes', data: take(u32()) }); break;
      case 0x58: {
        const raw = take(u32());
        try { push(new TextDecoder('utf-8', { fatal: true }).decode(raw)); } catch { fail('a unicode string that is not UTF-8'); }
        break;
      }
      case 0x4e: push(null); break;
      case 0x88: push(true); break;
      case 0x89: push(false); break;
      case 0x63: {
        const full = `${line()}.${line()}`;
        if (!(NUMPY_GLOBALS as readonly string[]).includes(full)) fail(`GLOBAL ${JSON.stringify(full.slice(0, 80))}; only numpy's array and dtype are allowed`);
        push({ kind: 'global', name: full as NumpyGlobal });
        break;
      }
      case 0x52: { const args = pop(), fn = pop(); push(reduce(fn, args, fail)); break; }
      case 0x62: { const state = pop(); build(top(), state, fail); break; }
      default:
        fail(`opcode 0x${op.toString(16).padStart(2, '0')}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''} is not one torchvision's CIFAR-10 batches use`);
    }
  }
}

function isKind<K extends string>(v: PyValue | undefined, kind: K): boolean {
  return typeof v === 'object' && v !== null && v.kind === kind;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/** A dict key: Python 2's str (bytes, read as latin-1 like torchvision's pickle.load(encoding='latin1')) or str. */
function key(k: PyValue, fail: (what: string) => never): string {
  if (typeof k === 'string') return k;
  if (isKind(k, 'bytes')) return latin1((k as { data: Uint8Array }).data);
  return fail(`a dict key is ${describe(k)}, not a string`);
}

const items = (v: PyValue): PyValue[] | null => (isKind(v, 'tuple') ? (v as { items: PyValue[] }).items : null);
const text = (v: PyValue | undefined): string | null =>
  typeof v === 'string' ? v : isKind(v, 'bytes') ? latin1((v as { data: Uint8Array }).data) : null;

/** REDUCE: only numpy's _reconstruct(ndarray, …) and dtype(descr, …), giving inert descriptions. */
function reduce(fn: PyValue, args: PyValue, fail: (what: string) => never): PyValue {
  const a = items(args);
  if (!a) return fail(`REDUCE arguments are ${describe(args)}, not a tuple`);
  const name = isKind(fn, 'global') ? (fn as { name: NumpyGlobal }).name : null;
  if (name?.endsWith('._reconstruct') && isKind(a[0], 'global') && (a[0] as { name: string }).name === 'numpy.ndarray') {
    return { kind: 'ndarray', shape: [], dtype: null, fortran: false, data: null };
  }
  if (name === 'numpy.dtype' && text(a[0]) !== null) return { kind: 'dtype', descr: text(a[0])! };
  return fail(`REDUCE calls ${describe(fn)} with ${describe(args)}; only numpy's _reconstruct(ndarray, …) and dtype(…) are read`);
}

/** BUILD: an array's (version?, shape, dtype, fortran, raw bytes); a dtype's state is accepted as is. */
function build(target: PyValue, state: PyValue, fail: (what: string) => never): void {
  const s = items(state);
  if (!s) return fail(`BUILD state is ${describe(state)}, not a tuple`);
  if (isKind(target, 'dtype')) return;
  if (!isKind(target, 'ndarray')) return fail(`BUILD on ${describe(target)}`);
  const [shape, dtype, fortran, data] = s.length === 5 ? s.slice(1) : s;
  const dims = shape !== undefined ? items(shape) : null;
  if (s.length < 4 || s.length > 5 || !dims || !dims.every((d) => typeof d === 'number' && d >= 0) ||
    !isKind(dtype, 'dtype') || typeof fortran !== 'boolean' || !isKind(data, 'bytes')) {
    return fail('a numpy array\'s state is not (version, shape, dtype, fortran, bytes)');
  }
  Object.assign(target as NdArray, {
    shape: dims as number[], dtype: (dtype as { descr: string }).descr, fortran, data: (data as { data: Uint8Array }).data,
  });
}
