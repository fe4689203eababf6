/** EIP-191 `personal_sign` with secp256k1 and address recovery (keccak-256). */
import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from './bytes.js';

/** `personal_sign` accepts the message as 0x-hex or as text. */
export function messageBytes(message: string): Uint8Array {
  return /^0x([0-9a-fA-F]{2})*$/.test(message) ? hexToBytes(message.slice(2)) : utf8ToBytes(message);
}

/** keccak256("\x19Ethereum Signed Message:\n" + len + message). */
export function hashMessage(message: Uint8Array): Uint8Array {
  return keccak_256(concatBytes(utf8ToBytes(`\x19Ethereum Signed Message:\n${message.length}`), message));
}

/** The 0x address of a secp256k1 private key (lowercase hex). */
export function addressOf(privateKey: Uint8Array): string {
  return addressOfPublic(secp256k1.getPublicKey(privateKey, false));
}

function addressOfPublic(uncompressed: Uint8Array): string {
  return '0x' + bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12));
}

/** Signs like a wallet's `personal_sign`: 65 bytes r ‖ s ‖ v (v = 27 + recovery), 0x-hex. */
export function personalSign(privateKey: Uint8Array, message: string): string {
  const sig = secp256k1.sign(hashMessage(messageBytes(message)), privateKey);
  return '0x' + bytesToHex(concatBytes(sig.toCompactRawBytes(), Uint8Array.of(27 + sig.recovery)));
}

/** Recovers the signer's address of a `personal_sign` signature. */
export function recoverAddress(message: string, signature: string): string {
  const bytes = hexToBytes(signature.replace(/^0x/, ''));
  if (bytes.length !== 65) throw new Error('signature must be 65 bytes');
  const v = bytes[64] >= 27 ? bytes[64] - 27 : bytes[64];
  if (v !== 0 && v !== 1) throw new Error('bad recovery id');
  const sig = secp256k1.Signature.fromCompact(bytes.subarray(0, 64)).addRecoveryBit(v);
  const point = sig.recoverPublicKey(hashMessage(messageBytes(message)));
  return addressOfPublic(point.toRawBytes(false));
}
