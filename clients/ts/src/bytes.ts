/** Byte helpers: hex, base64 (standard and url-safe), UTF-8, base58btc. */
import * as noble from '@noble/hashes/utils';

// Own signatures (not re-exports), so the published .d.ts files do not need @noble installed.
/** Lower-case hex of `bytes`. */
export const bytesToHex: (bytes: Uint8Array) => string = noble.bytesToHex;
/** Bytes of a hex string; throws on odd length or non-hex. */
export const hexToBytes: (hex: string) => Uint8Array = noble.hexToBytes;
/** The concatenation of `arrays`. */
export const concatBytes: (...arrays: Uint8Array[]) => Uint8Array = noble.concatBytes;
/** `n` bytes from the platform's CSPRNG. */
export const randomBytes: (n?: number) => Uint8Array = noble.randomBytes;
/** UTF-8 bytes of `text`. */
export const utf8ToBytes: (text: string) => Uint8Array = noble.utf8ToBytes;

/** Standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Decodes standard base64; throws on invalid input. */
export function fromBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** base64url without padding (JWT). */
export function toBase64Url(bytes: Uint8Array): string {
  return toBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** UTF-8 decoding that throws on invalid bytes. */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** Bitcoin base58 (used by did:key's multibase `z` prefix). */
export function toBase58(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  while (n > 0n) {
    out = B58[Number(n % 58n)] + out;
    n /= 58n;
  }
  for (const b of bytes) {
    if (b !== 0) break;
    out = '1' + out;
  }
  return out;
}

/** Constant-time-ish equality of two byte strings (no early exit on content). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
