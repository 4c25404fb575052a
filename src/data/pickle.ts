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
  return new PickleMachine(bytes, name).run();
}

/** Pickle's stack machine over one file's bytes: the cursor, the stack, the memo, and the opcode being run (for errors). */
class PickleMachine {
  private readonly view: DataView;
  private readonly stack: Slot[] = [];
  private readonly memo = new Map<number, PyValue>();
  private at = 0;
  private op = 0;
  private opAt = 0;

  constructor(private readonly bytes: Uint8Array, private readonly name: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  readonly fail = (what: string): never => {
    throw new DataFormatError(`${this.name}: not a CIFAR-10 Python batch this reader handles: ${what} (${NAMES[this.op] ?? 'opcode'} at byte ${this.opAt}); ` +
      'the file is corrupt or truncated: download it again, or use the binary version (cifar-10-batches-bin)');
  };

  /** Runs opcodes until STOP, whose value it returns. */
  run(): PyValue {
    for (;;) {
      this.opAt = this.at;
      if (this.at >= this.bytes.length) { this.op = 0; this.fail('the file ends before the pickle\'s STOP'); }
      const op = this.op = this.bytes[this.at++]!;
      if (op === 0x2e) return this.stop();
      if (!this.structureOp(op) && !this.valueOp(op)) {
        this.fail(`opcode 0x${op.toString(16).padStart(2, '0')}${op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''} is not one torchvision's CIFAR-10 batches use`);
      }
    }
  }

  /** STOP: the one value left is the pickle's, and nothing may follow it. */
  private stop(): PyValue {
    const v = this.pop();
    if (this.stack.length !== 0) this.fail(`${this.stack.length} values left on the stack at STOP`);
    if (this.at !== this.bytes.length) this.fail(`${this.bytes.length - this.at} bytes after the pickle's STOP`);
    return v;
  }

  /** The protocol, marks, containers and the memo; false for an opcode of another kind. */
  private structureOp(op: number): boolean {
    switch (op) {
      case 0x80: { const p = this.u8(); if (p < 2 || p > 3) this.fail(`pickle protocol ${p}; torchvision's batches are protocol 2`); break; }
      case 0x28: this.push(MARK); break;
      case 0x7d: this.push({ kind: 'dict', entries: new Map() }); break;
      case 0x5d: this.push({ kind: 'list', items: [] }); break;
      case 0x29: this.push({ kind: 'tuple', items: [] }); break;
      case 0x75: { const kv = this.popMark(); if (kv.length % 2) this.fail('SETITEMS with an odd number of values'); this.setItems(this.top(), kv); break; }
      case 0x73: { const v = this.pop(), k = this.pop(); this.setItems(this.top(), [k, v]); break; }
      case 0x65: { const items = this.popMark(); this.append(this.top(), items); break; }
      case 0x61: { const v = this.pop(); this.append(this.top(), [v]); break; }
      case 0x74: this.push({ kind: 'tuple', items: this.popMark() }); break;
      case 0x85: case 0x86: case 0x87: {
        const n = op - 0x84, items: PyValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(this.pop());
        this.push({ kind: 'tuple', items });
        break;
      }
      case 0x71: this.put(this.u8()); break;
      case 0x72: this.put(this.u32()); break;
      case 0x68: this.get(this.u8()); break;
      case 0x6a: this.get(this.u32()); break;
      default: return false;
    }
    return true;
  }

  /** Ints, strings, constants and numpy's array and dtype; false for an opcode of another kind. */
  private valueOp(op: number): boolean {
    switch (op) {
      case 0x4b: this.push(this.u8()); break;
      case 0x4d: this.push(this.u16()); break;
      case 0x4a: this.push(this.i32()); break;
      case 0x55: case 0x43: this.push({ kind: 'bytes', data: this.take(this.u8()) }); break;
      case 0x54: { const n = this.i32(); if (n < 0) this.fail(`negative string length ${n}`); this.push({ kind: 'bytes', data: this.take(n) }); break; }
      case 0x42: this.push({ kind: 'bytes', data: this.take(this.u32()) }); break;
      case 0x58: {
        const raw = this.take(this.u32());
        try { this.push(new TextDecoder('utf-8', { fatal: true }).decode(raw)); } catch { this.fail('a unicode string that is not UTF-8'); }
        break;
      }
      case 0x4e: this.push(null); break;
      case 0x88: this.push(true); break;
      case 0x89: this.push(false); break;
      case 0x63: {
        const full = `${this.line()}.${this.line()}`;
        if (!(NUMPY_GLOBALS as readonly string[]).includes(full)) this.fail(`GLOBAL ${JSON.stringify(full.slice(0, 80))}; only numpy's array and dtype are allowed`);
        this.push({ kind: 'global', name: full as NumpyGlobal });
        break;
      }
      case 0x52: { const args = this.pop(), fn = this.pop(); this.push(reduce(fn, args, this.fail)); break; }
      case 0x62: { const state = this.pop(); build(this.top(), state, this.fail); break; }
      default: return false;
    }
    return true;
  }

  private need(n: number): void {
    if (n > this.bytes.length - this.at) this.fail(`needs ${n} more bytes but the file ends ${this.bytes.length - this.at} bytes later (truncated?)`);
  }
  private u8(): number { this.need(1); return this.bytes[this.at++]!; }
  private u16(): number { this.need(2); const v = this.view.getUint16(this.at, true); this.at += 2; return v; }
  private u32(): number { this.need(4); const v = this.view.getUint32(this.at, true); this.at += 4; return v; }
  private i32(): number { this.need(4); const v = this.view.getInt32(this.at, true); this.at += 4; return v; }
  private take(n: number): Uint8Array { this.need(n); const b = this.bytes.subarray(this.at, this.at + n); this.at += n; return b; }
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.at);
    if (end < 0 || end - this.at > 256) this.fail('a GLOBAL name is not a short newline-terminated line');
    const s = latin1(this.bytes.subarray(this.at, end));
    this.at = end + 1;
    return s;
  }

  private push(v: Slot): void { if (this.stack.length >= MAX_STACK) this.fail(`more than ${MAX_STACK} values on the stack`); this.stack.push(v); }
  private pop(): PyValue {
    const v = this.stack.pop();
    if (v === undefined || v === MARK) this.fail('the stack is empty where a value is needed');
    return v as PyValue;
  }
  private top(): PyValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) this.fail('the stack is empty where a value is needed');
    return v as PyValue;
  }
  /** The values above the topmost MARK, removing them and the mark. */
  private popMark(): PyValue[] {
    const m = this.stack.lastIndexOf(MARK);
    if (m < 0) this.fail('no MARK before it');
    const items = this.stack.splice(m + 1) as PyValue[];
    this.stack.pop();
    return items;
  }
  private setItems(dict: PyValue, kv: PyValue[]): void {
    if (!isKind(dict, 'dict')) this.fail(`sets items on ${describe(dict)}, not a dict`);
    for (let i = 0; i < kv.length; i += 2) (dict as { entries: Map<string, PyValue> }).entries.set(key(kv[i]!, this.fail), kv[i + 1]!);
  }
  private append(list: PyValue, items: PyValue[]): void {
    if (!isKind(list, 'list')) this.fail(`appends to ${describe(list)}, not a list`);
    (list as { items: PyValue[] }).items.push(...items);
  }

  private put(i: number): void {
    if (this.memo.size >= MAX_MEMO && !this.memo.has(i)) this.fail(`more than ${MAX_MEMO} memo entries`);
    this.memo.set(i, this.top());
  }
  private get(i: number): void { const v = this.memo.get(i); if (v === undefined) this.fail(`memo entry ${i} was never stored`); this.push(v!); }
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
