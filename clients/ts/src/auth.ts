/**
 * Relay authentication as WalletConnect's `relay-auth`: an EdDSA JWT whose `iss`
 * is the client's `did:key` (ed25519), passed as `?auth=` on the WebSocket URL.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { bytesToHex, concatBytes, randomBytes, toBase58, toBase64Url, utf8ToBytes } from './bytes.js';

/** `did:key:z` + base58btc(0xED 0x01 ‖ ed25519 public key). */
export function didKey(publicKey: Uint8Array): string {
  return 'did:key:z' + toBase58(concatBytes(Uint8Array.of(0xed, 0x01), publicKey));
}

/** A signed relay JWT for `aud` (the relay URL as configured, without query). */
export function signRelayJwt(seed: Uint8Array, aud: string, iatSecs: number = Math.floor(Date.now() / 1000)): string {
  const header = { alg: 'EdDSA', typ: 'JWT' };
  const payload = {
    iss: didKey(ed25519.getPublicKey(seed)),
    sub: bytesToHex(randomBytes(32)),
    aud,
    iat: iatSecs,
    exp: iatSecs + 86400,
  };
  const enc = (v: unknown) => toBase64Url(utf8ToBytes(JSON.stringify(v)));
  const data = `${enc(header)}.${enc(payload)}`;
  return `${data}.${toBase64Url(ed25519.sign(utf8ToBytes(data), seed))}`;
}
