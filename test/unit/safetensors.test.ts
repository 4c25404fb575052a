// safetensors: round trips for every dtype, byte layout a standard reader accepts, every lying
// header rejected with the file's name (and random corruption never escaping as another error),
// the model check, and the atomic write + checksum helpers checkpoints are saved with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/rng.ts';
import { checkTensors, decodeSafetensors, encodeSafetensors, expectTensors, SafetensorsError } from '../../src/io/safetensors.ts';
import { checksumPath, ChecksumError, readFileVerified, sha256Hex, writeFileAtomic, writeFileAtomicSync, writeFileWithChecksum } from '../../runner/storage/atomic-write.ts';

const TENSORS = {
  'fc.weight': { shape: [2, 3], data: Float32Array.from([1.5, -2, 0, NaN, -Infinity, 3e-39]) },
  'fc.bias': { shape: [2], data: Float64Array.from([Math.PI, -0]) },
  'mask': { shape: [3], data: Uint8Array.from([1, 0, 255]) },
  'step': { shape: [], data: Uint32Array.from([4294967295]) },
  'idx': { shape: [2, 0], data: new Int32Array(0) },
  'neg': { shape: [1], data: Int32Array.from([-7]) },
};
const META = { arch: 'lenet_300_100', iteration: '500it' };

test('round trip keeps every dtype, shape, value (NaN, −0, denormals) and the metadata', () => {
  const f = decodeSafetensors(encodeSafetensors(TENSORS, META), 'rt.safetensors');
  assert.deepEqual(f.metadata, META);
  assert.deepEqual([...f.tensors.keys()].sort(), Object.keys(TENSORS).sort());
  for (const [name, t] of Object.entries(TENSORS)) {
    const got = f.tensors.get(name)!;
    assert.deepEqual(got.shape, t.shape, name);
    assert.equal(got.data.constructor, t.data.constructor, name);
    assert.deepEqual(got.data, t.data, name); // deepEqual uses Object.is: NaN and −0 must survive
  }
  assert.equal(f.tensors.get('fc.weight')!.dtype, 'F32');
  assert.equal(f.tensors.get('step')!.dtype, 'U32');
});

test('I64 (PyTorch\'s batch-norm num_batches_tracked) round-trips exactly, past 2^53 and negative', () => {
  const i64 = { 'bn.num_batches_tracked': { shape: [], data: BigInt64Array.of(2n ** 62n + 1n) }, 'v': { shape: [2], data: BigInt64Array.of(-(2n ** 63n), 5n) } };
  const f = decodeSafetensors(encodeSafetensors({ ...i64, w: TENSORS['fc.weight'] }), 'i64.safetensors');
  for (const [name, t] of Object.entries(i64)) {
    assert.equal(f.tensors.get(name)!.dtype, 'I64');
    assert.deepEqual(f.tensors.get(name)!.shape, t.shape);
    assert.deepEqual(f.tensors.get(name)!.data, t.data);
  }
  // A header declaring I64 must span 8 bytes per element, as for every other dtype.
  assert.throws(() => decodeSafetensors(forge(`{"a": {"dtype": "I64", "shape": [2], "data_offsets": [0, 8]}}`, 8), 'bad.safetensors'),
    /bad\.safetensors: tensor "a": I64 shape \[2\] needs 16 bytes but data_offsets \[0, 8\] span 8/);
});

test('decoding a Node Buffer (a view into a shared pool, e.g. from readFileSync) gives the same tensors', () => {
  const bytes = encodeSafetensors(TENSORS, META);
  // Buffer.from(array) copies into Node's shared allocation pool, at a non-zero offset when small.
  const pooled = Buffer.from(bytes);
  const f = decodeSafetensors(pooled, 'pooled.safetensors');
  for (const [name, t] of Object.entries(TENSORS)) assert.deepEqual(f.tensors.get(name)!.data, t.data, name);
});

test('layout: u64 LE header length, space-padded JSON, 8-aligned data, bytes independent of insertion order', () => {
  const bytes = encodeSafetensors(TENSORS, META);
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.__metadata__, META);
  assert.deepEqual(header['fc.bias'], { dtype: 'F64', shape: [2], data_offsets: [0, 16] }); // F64 first: alignment
  assert.deepEqual(new Float64Array(bytes.buffer.slice(8 + n, 8 + n + 16)), TENSORS['fc.bias'].data);
  const reversed = Object.fromEntries(Object.entries(TENSORS).reverse());
  assert.deepEqual(encodeSafetensors(reversed, META), bytes);
});

test('writer rejects bad input by name', () => {
  assert.throws(() => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }), /tensor "w": shape \[2, 2\] has 4 elements but the data has 3/);
  assert.throws(() => encodeSafetensors({ w: { shape: [1], data: new Float32Array(1), dtype: 'U32' } }), /tensor "w": dtype U32 does not match its Float32Array/);
  assert.throws(() => encodeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } }), /"__metadata__" is reserved/);
  assert.throws(() => encodeSafetensors({ w: { shape: [1], data: new Int16Array(1) as never } }), /tensor "w": unsupported data Int16Array/);
});

/** A file whose header is exactly `header` (JSON text) followed by `dataBytes` zero bytes. */
function forge(header: string, dataBytes: number, declaredLength?: number): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setUint32(0, declaredLength ?? json.length, true);
  out.set(json, 8);
  return out;
}
const rejects = (bytes: Uint8Array, re: RegExp) => assert.throws(() => decodeSafetensors(bytes, 'ckpt.safetensors'),
  (e: unknown) => (e instanceof SafetensorsError && e.message.startsWith('ckpt.safetensors: ') && re.test(e.message)) || assert.fail(String(e)));
const t8 = (o: [number, number], dtype = 'F32', shape = [2]) => JSON.stringify({ dtype, shape, data_offsets: o });

test('lying headers are rejected with a message naming the file', () => {
  rejects(new Uint8Array(5), /truncated: 5 bytes/);
  rejects(forge('{}', 0, 1000), /header length 1000 runs past the end of the file \(10 bytes\)/);
  const huge = forge('{}', 0); new DataView(huge.buffer).setUint32(4, 1, true);
  rejects(huge, /header length 4294967298 exceeds/);
  rejects(forge('{"a": ', 0), /header is not valid JSON/);
  rejects(forge('[1, 2]', 0), /header is not a JSON object/);
  const badUtf8 = forge('{"a":1}', 0); badUtf8[10] = 0xff;
  rejects(badUtf8, /header is not valid UTF-8/);
  rejects(forge(`{"a": ${t8([0, 8])}, "a": ${t8([8, 16])}}`, 16), /header names "a" twice/);
  rejects(forge(`{"a": {"dtype": "F32", "dtype": "U8", "shape": [2], "data_offsets": [0, 8]}}`, 8), /header names "dtype" twice/);
  rejects(forge(`{"a": ${t8([0, 8], 'BF16')}}`, 8), /tensor "a": unsupported dtype "BF16" \(this reader handles F32, F64, I64, I32, U32, U8\)/);
  rejects(forge(`{"a": ${t8([0, 8], 'F32', [3])}}`, 8), /tensor "a": F32 shape \[3\] needs 12 bytes but data_offsets \[0, 8\] span 8/);
  rejects(forge(`{"a": ${t8([0, 8], 'F32', [-2] as never)}}`, 8), /shape \[-2\] must be an array of non-negative integers/);
  rejects(forge(`{"a": ${t8([8, 0])}}`, 8), /data_offsets \[8,0\] must be \[begin, end\] with 0 ≤ begin ≤ end/);
  rejects(forge(`{"a": ${t8([0, 8])}}`, 4), /tensor "a" data_offsets \[0, 8\] run past the data section \(4 bytes\)/);
  rejects(forge(`{"a": ${t8([0, 8])}, "b": ${t8([4, 12])}}`, 12), /data_offsets \[4, 12\] overlap another tensor's bytes/);
  rejects(forge(`{"a": ${t8([0, 8])}, "b": ${t8([12, 20])}}`, 20), /data bytes \[8, 12\) belong to no tensor \(before "b"\)/);
  rejects(forge(`{"a": ${t8([0, 8])}}`, 9), /data bytes \[8, 9\) belong to no tensor/);
  rejects(forge(`{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0], "extra": 1}}`, 0), /unknown field\(s\) extra/);
  rejects(forge(`{"__metadata__": {"k": 1}}`, 0), /"__metadata__"."k" must be a string/);
  rejects(forge(`{"a": 5}`, 0), /tensor "a": expected \{dtype, shape, data_offsets\}/);
  // and the forge itself produces acceptable files when it tells the truth
  assert.equal(decodeSafetensors(forge(`{"a": ${t8([0, 8])}, "b": ${t8([8, 16], 'U8', [8])}}`, 16), 'ok').tensors.size, 2);
});

test('crafted headers: nesting, huge values and entry counts are refused in one short line, fast', () => {
  const oneLine = (bytes: Uint8Array, re: RegExp) => {
    const t0 = performance.now();
    assert.throws(() => decodeSafetensors(bytes, 'ckpt.safetensors'), (e: unknown) => {
      if (!(e instanceof SafetensorsError)) assert.fail(`not a SafetensorsError: ${String(e).slice(0, 200)}`);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n') && e.message.length < 400, `message is ${e.message.length} characters`);
      return true;
    });
    // Generous for a shared 2-core machine; before the bounds these took 37 s or overflowed the stack.
    assert.ok(performance.now() - t0 < 3000, `took ${Math.round(performance.now() - t0)} ms`);
  };
  const deep = 100_000;
  oneLine(forge(`{"a": ${'['.repeat(deep)}${']'.repeat(deep)}}`, 0), /^ckpt\.safetensors: header nests deeper than 3 levels/);
  oneLine(forge(`{"a": {"dtype": "F32", "shape": [[[0]]], "data_offsets": [0, 0]}}`, 0), /nests deeper than 3 levels/);
  // 40 MB is past the header limit now; a 10 MB value (under it) would have been a 10-million-character line.
  oneLine(forge(`{"__metadata__": {"k": "${'x'.repeat(40_000_000)}"}}`, 0), /header length 40000027 exceeds the 16777216-byte limit/);
  const big = 'x'.repeat(10_000_000);
  oneLine(forge(`{"__metadata__": {"k": ["${big}"]}}`, 0), /"__metadata__"\."k" must be a string, got \["x{10,}… \(10000004 characters\)$/);
  oneLine(forge(`{"${big}": 5}`, 0), /tensor "x+… \(10000002 characters\): expected/);
  oneLine(forge(`{"a": {"dtype": "${big}", "shape": [0], "data_offsets": [0, 0]}}`, 0), /unsupported dtype "x+… \(10000002 characters\)/);
  oneLine(forge(`{"__metadata__": {"k": "v\\n${'y'.repeat(200)}"}, "a": ${'['.repeat(10)}`, 0), /nests deeper/);
  oneLine(forge(`{"a": "${'z'.repeat(1000)}\n`, 0), /header is not valid JSON/); // JSON.parse's own message, clipped
  const entries = (n: number) => `{${Array.from({ length: n }, (_, i) => `"t${i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]}`).join(', ')}}`;
  oneLine(forge(entries(65_537), 0), /header has more than 65536 entries/);
  oneLine(forge('{}', 16 * 2 ** 20 + 1, 16 * 2 ** 20 + 1), /header length 16777217 exceeds the 16777216-byte limit/);
  // the bounds leave room for real headers: 65,536 entries at depth 3 decode
  assert.equal(decodeSafetensors(forge(entries(65_536), 0), 'ok').tensors.size, 65_536);
});

test('random corruption: every mutated or truncated file either decodes or throws SafetensorsError', () => {
  const good = encodeSafetensors(TENSORS, META);
  const rng = new Rng(42);
  let rejected = 0;
  for (let trial = 0; trial < 3000; trial++) {
    let b = good.slice();
    if (trial % 3 === 0) b = b.subarray(0, rng.int(b.length));
    else for (let k = 0; k <= rng.int(3); k++) b[rng.int(trial % 3 === 1 ? Math.min(b.length, 200) : b.length)] = rng.int(256);
    try {
      decodeSafetensors(b, 'fuzz');
    } catch (e) {
      if (!(e instanceof SafetensorsError)) assert.fail(`trial ${trial}: ${String(e)}`);
      rejected++;
    }
  }
  assert.ok(rejected > 1000, `only ${rejected} of 3000 corruptions were rejected`);
});

test('checkTensors / expectTensors report missing, unexpected, shape and dtype mismatches', () => {
  const f = decodeSafetensors(encodeSafetensors(TENSORS), 'rt');
  const model = {
    'fc.weight': { shape: [3, 2] }, 'fc.bias': { shape: [2], dtype: 'F32' as const }, mask: { shape: [3] },
    step: { shape: [] }, neg: { shape: [1] }, 'fc2.weight': { shape: [1] },
  };
  const r = checkTensors(f, model);
  assert.equal(r.ok, false);
  assert.deepEqual(r.missing, ['fc2.weight']);
  assert.deepEqual(r.unexpected, ['idx']);
  assert.deepEqual(r.shapeMismatches, [{ name: 'fc.weight', expected: [3, 2], actual: [2, 3] }]);
  assert.deepEqual(r.dtypeMismatches, [{ name: 'fc.bias', expected: 'F32', actual: 'F64' }]);
  assert.throws(() => expectTensors(f, model, 'level_1/model.safetensors'), (e: unknown) => e instanceof SafetensorsError &&
    /^level_1\/model\.safetensors: does not match the model.*missing fc2\.weight; unexpected idx; shape mismatch fc\.weight is \[2, 3\] in the file, the model has \[3, 2\]; dtype mismatch fc\.bias is F64, expected F32$/.test(e.message));
  const exact = new Map(Object.entries(TENSORS).map(([k, v]) => [k, { shape: v.shape }]));
  assert.equal(checkTensors(f, exact).ok, true);
  expectTensors(f, exact, 'x');
});

test('atomic write: final file complete, no temp files left, a failed write leaves the old file intact', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earlyphase-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'model.safetensors');
  await writeFileAtomic(p, encodeSafetensors(TENSORS));
  writeFileAtomicSync(join(dir, 'hparams.json'), '{"a":1}');
  assert.deepEqual(readdirSync(dir).sort(), ['hparams.json', 'model.safetensors']);
  assert.equal(decodeSafetensors(new Uint8Array(readFileSync(p)), p).tensors.size, 6);
  await assert.rejects(writeFileAtomic(join(dir, 'no', 'such', 'folder.bin'), 'x'), /ENOENT/);
  await assert.rejects(writeFileAtomic(join(dir, 'model.safetensors', 'child'), 'x'));
  assert.throws(() => writeFileAtomicSync(join(dir, 'hparams.json', 'x'), 'x'));
  assert.deepEqual(readdirSync(dir).sort(), ['hparams.json', 'model.safetensors']);
  assert.equal(readFileSync(join(dir, 'hparams.json'), 'utf8'), '{"a":1}');
});

test('checksum sidecar: verified when intact, ChecksumError when a byte flips, unverified when absent or malformed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'earlyphase-sum-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'w.safetensors');
  const bytes = encodeSafetensors(TENSORS);
  const hex = await writeFileWithChecksum(p, bytes);
  assert.equal(hex, sha256Hex(bytes));
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // FIPS 180-2 test vector
  assert.equal(readFileSync(checksumPath(p), 'utf8'), `${hex}  w.safetensors\n`);
  assert.deepEqual(await readFileVerified(p), { bytes, verified: true, sidecar: 'verified' });
  const flipped = bytes.slice(); flipped[flipped.length - 1]! ^= 1;
  writeFileSync(p, flipped);
  await assert.rejects(readFileVerified(p), (e: unknown) => e instanceof ChecksumError && e.message.startsWith(`${p}: corrupt — SHA-256 is ${sha256Hex(flipped)}`));
  // A malformed or missing sidecar proves nothing about the file: unverified, not corrupt.
  writeFileSync(checksumPath(p), 'garbage');
  assert.deepEqual(await readFileVerified(p), { bytes: flipped, verified: false, sidecar: 'malformed' });
  rmSync(checksumPath(p));
  assert.deepEqual(await readFileVerified(p), { bytes: flipped, verified: false, sidecar: 'missing' });
  await writeFileWithChecksum(p, 'new'); // rewriting replaces the sidecar too
  assert.equal((await readFileVerified(p)).verified, true);
  assert.ok(existsSync(checksumPath(p)));
});
