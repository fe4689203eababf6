/**
 * WalletConnect v2 envelopes: type 0 (`0x00 ‖ iv ‖ sealed`), type 1
 * (`0x01 ‖ sender public key ‖ iv ‖ sealed`), ChaCha20-Poly1305, standard base64.
 */
import { chacha20poly1305 } from '@noble/ciphers/chacha';
import { concatBytes, fromBase64, randomBytes, toBase64, utf8Decode, utf8ToBytes } from './bytes.js';

/** Largest base64 envelope accepted (150 KiB, the Waku message cap). */
export const MAX_ENCODED_LEN = 150 * 1024;

/** Why an envelope could not be opened. */
export class EnvelopeError extends Error {
  override name = 'EnvelopeError';
}

/** Seals a type 0 envelope. `iv` only for known-answer tests: never reuse a nonce. */
export function sealType0(key: Uint8Array, message: string, iv: Uint8Array = randomBytes(12)): string {
  const sealed = chacha20poly1305(key, iv).encrypt(utf8ToBytes(message));
  return toBase64(concatBytes(Uint8Array.of(0), iv, sealed));
}

/** Seals a type 1 envelope, carrying the sender's X25519 public key in clear. */
export function sealType1(key: Uint8Array, senderPublicKey: Uint8Array, message: string): string {
  const iv = randomBytes(12);
  const sealed = chacha20poly1305(key, iv).encrypt(utf8ToBytes(message));
  return toBase64(concatBytes(Uint8Array.of(1), senderPublicKey, iv, sealed));
}

/** The parsed header of an envelope. */
export interface Envelope {
  type: 0 | 1;
  sender?: Uint8Array;
  iv: Uint8Array;
  sealed: Uint8Array;
}

/** Decodes base64 and splits the header (no decryption). */
export function decodeEnvelope(encoded: string): Envelope {
  if (encoded.length > MAX_ENCODED_LEN) throw new EnvelopeError(`envelope is ${encoded.length} bytes, the limit is ${MAX_ENCODED_LEN}`);
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(encoded);
  } catch {
    throw new EnvelopeError('envelope is not valid base64');
  }
  if (bytes.length === 0) throw new EnvelopeError('envelope is empty');
  const type = bytes[0];
  if (type === 0) {
    if (bytes.length < 1 + 12 + 16) throw new EnvelopeError('envelope of type 0 is truncated');
    return { type, iv: bytes.subarray(1, 13), sealed: bytes.subarray(13) };
  }
  if (type === 1) {
    if (bytes.length < 1 + 32 + 12 + 16) throw new EnvelopeError('envelope of type 1 is truncated');
    return { type, sender: bytes.subarray(1, 33), iv: bytes.subarray(33, 45), sealed: bytes.subarray(45) };
  }
  throw new EnvelopeError(`unknown envelope type ${type}`);
}

/** Opens an envelope with `key`; throws EnvelopeError on a wrong key or tampering. */
export function openEnvelope(key: Uint8Array, env: Envelope): string {
  let plain: Uint8Array;
  try {
    plain = chacha20poly1305(key, env.iv).decrypt(env.sealed);
  } catch {
    throw new EnvelopeError('decryption failed: wrong key or tampered envelope');
  }
  try {
    return utf8Decode(plain);
  } catch {
    throw new EnvelopeError('decrypted payload is not UTF-8');
  }
}
