// Digests of bytes and values, for run-folder names, dataset fingerprints and file checksums:
// SHA-256, a canonical JSON text to hash a value by, and the checksum sidecar's text.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

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

// SHA-256 from @noble/hashes (audited, synchronous, the same code in browsers and Node): src/
// runs in browsers too, and Web Crypto's digest is async, which would make every folder-name
// lookup async for no benefit.
export function sha256Hex(data: string | Uint8Array): string {
  return bytesToHex(sha256(typeof data === 'string' ? utf8ToBytes(data) : data));
}

/**
 * The text of a file's checksum sidecar (`<name>.sha256`): `<hex>  <file name>` and a newline, the
 * format `sha256sum -c` reads. FsStorage writes it; the tab's run archive carries the same.
 */
export function checksumSidecar(hex: string, fileName: string): string {
  return `${hex}  ${fileName}\n`;
}
