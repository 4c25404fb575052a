// Run-folder names: a stable hash of the hyperparameters that are not at their no-effect default.
//
// Scheme (version 2), following OpenLTH's Desc.hashname in spirit:
//   1. validate (canonical step spellings, defaults filled in);
//   2. per group keep the fields whose value differs from the schema's no-effect default —
//      fields without a default (dataset_name, lr, ...) are therefore always kept;
//   3. drop groups left empty; sort group and field names; serialise as JSON with no spaces
//      (numbers in ECMAScript's shortest round-trip form: 0.1, 0.0001, 1e-7);
//   4. SHA-256 of "earlyphase.hparams.v2\n" + that JSON (UTF-8); the first 10 hex digits.
//
// Why relative to the schema's defaults and not the preset's: the hash then names the experiment
// itself, not the route taken to describe it. `--default-hparams cifar_resnet_20` and the same
// values spelled out as flags share a folder, and editing a preset can never make an old folder
// name a different experiment. A knob added later with a no-effect default is absent from every
// existing run's non-default set, so existing names stay valid. Changing a default, or this
// serialisation, would rename every run: bump the version string instead.
// Version 2 (2026-12): OpenLTH's short last batch and pruning count became the defaults, the
// old semantics the options pad_last_batch and pruning_exact_count. The bump renames every run,
// so no folder trained under version 1 is ever continued under the new semantics; version-1
// hparams.json files read back with both options set (src/train/hparams/json.ts).
// 10 hex digits = 40 bits: a collision needs ~10^6 distinct runs in one results root.

import { GROUPS, GROUP_NAMES, type Hparams } from './hparams/groups.ts';
import { fieldsOf, noEffectDefault } from './hparams/schema.ts';
import { validateHparams } from './hparams/build.ts';

export const HASH_VERSION_TAG = 'earlyphase.hparams.v2';
export const HASH_HEX_DIGITS = 10;

/** The non-default fields per group (empty groups left out), e.g. for a run's one-line summary. */
export function nonDefaultHparams(h: Hparams): Record<string, Record<string, unknown>> {
  const checked = validateHparams(h) as unknown as Record<string, Record<string, unknown>>;
  const out: Record<string, Record<string, unknown>> = {};
  for (const g of GROUP_NAMES) {
    const kept: Record<string, unknown> = {};
    for (const [key, spec] of fieldsOf(GROUPS[g])) {
      const v = checked[g]![key];
      if (v !== undefined && !sameValue(v, noEffectDefault(spec))) kept[key] = v;
    }
    if (Object.keys(kept).length) out[g] = kept;
  }
  return out;
}

/** The exact text that is hashed; shown by debugging tools so a name can be explained. */
export function hparamsHashInput(h: Hparams): string {
  return `${HASH_VERSION_TAG}\n${canonicalJSON(nonDefaultHparams(h))}`;
}

/** The run hash: first HASH_HEX_DIGITS hex digits of SHA-256 of hparamsHashInput(h). */
export function hparamsHash(h: Hparams): string {
  return sha256Hex(hparamsHashInput(h)).slice(0, HASH_HEX_DIGITS);
}

function sameValue(a: unknown, b: unknown): boolean {
  return canonicalJSON(a) === canonicalJSON(b);
}

/** JSON with object keys sorted at every level, no whitespace; undefined members dropped. */
export function canonicalJSON(v: unknown): string {
  if (v === undefined) return 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJSON(x)}`).join(',')}}`;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`canonicalJSON: cannot encode ${v}`);
  return JSON.stringify(v);
}

// SHA-256 (FIPS 180-4), synchronous and portable: src/ runs in browsers too, and Web Crypto's
// digest is async, which would make every folder-name lookup async for no benefit.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256Hex(data: string | Uint8Array): string {
  const msg = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  // Padding: 0x80, zeros to 56 mod 64, then the bit length as a 64-bit big-endian integer.
  const padded = new Uint8Array(Math.ceil((msg.length + 9) / 64) * 64);
  padded.set(msg);
  padded[msg.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(msg.length / 0x20000000));
  view.setUint32(padded.length - 4, (msg.length * 8) >>> 0);

  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + 4 * i);
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15], y = w[i - 2];
      const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
      const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
  }
  return [...h].map(x => x.toString(16).padStart(8, '0')).join('');
}

/**
 * The text of a file's checksum sidecar (`<name>.sha256`): `<hex>  <file name>` and a newline, the
 * format `sha256sum -c` reads. FsStorage writes it; the tab's run archive carries the same.
 */
export function checksumSidecar(hex: string, fileName: string): string {
  return `${hex}  ${fileName}\n`;
}
