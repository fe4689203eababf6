/**
 * Key material, byte-compatible with WalletConnect v2 and the Rust crate
 * `heliograph-session`: 32-byte symmetric keys, X25519 key pairs, HKDF-SHA256
 * (no salt, no info) of the X25519 shared secret, topic = hex(sha256(key)).
 */
import { x25519 } from '@noble/curves/ed25519';
import { hkdf } from '@noble/hashes/hkdf';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, hexToBytes, randomBytes } from './bytes.js';

/** An X25519 key pair (raw 32-byte keys). */
export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

/** A fresh random 32-byte symmetric key. */
export function generateSymKey(): Uint8Array {
  return randomBytes(32);
}

/** The relay topic of a key: hex(sha256(key)). */
export function topicOf(key: Uint8Array): string {
  return bytesToHex(sha256(key));
}

/** A fresh X25519 key pair. */
export function generateKeyPair(): KeyPair {
  const privateKey = randomBytes(32);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/** The key pair of a known private key. */
export function keyPairFromPrivate(privateKey: Uint8Array): KeyPair {
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/** WalletConnect `deriveSymKey`: HKDF-SHA256(ikm = X25519(private, peer)) → 32 bytes. */
export function deriveSymKey(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array {
  const shared = x25519.getSharedSecret(privateKey, peerPublicKey);
  if (shared.every((b) => b === 0)) throw new Error("the peer's public key is a low-order point: key agreement refused");
  return hkdf(sha256, shared, undefined, undefined, 32);
}

/** Parses 64 hex characters into 32 bytes. */
export function parseKeyHex(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new Error('key is not 64 hex characters');
  return hexToBytes(text.toLowerCase());
}
