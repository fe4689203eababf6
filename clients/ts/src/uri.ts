/** Pairing URIs: `wc:<topic>@2?expiryTimestamp=…&relay-protocol=irn&symKey=…` (like `formatUri`). */
import { bytesToHex } from './bytes.js';
import { parseKeyHex, topicOf } from './keys.js';

/** A parsed pairing URI. */
export interface PairingUri {
  topic: string;
  symKey: Uint8Array;
  expiry: number;
}

/** Formats a pairing URI exactly like the Rust crate and `@walletconnect/utils`. */
export function formatUri(uri: PairingUri): string {
  return `wc:${uri.topic}@2?expiryTimestamp=${uri.expiry}&relay-protocol=irn&symKey=${bytesToHex(uri.symKey)}`;
}

/** Parses and checks a URI: version 2, relay irn, topic = sha256(symKey), not expired at `nowSecs`. */
export function parseUri(text: string, nowSecs: number = Math.floor(Date.now() / 1000)): PairingUri {
  const m = /^wc:(?:\/\/)?([0-9a-fA-F]{64})@([^?]*)\?(.*)$/.exec(text.trim());
  if (!m) throw new Error('not a WalletConnect pairing URI (wc:<topic>@2?…)');
  if (m[2] !== '2') throw new Error(`unsupported pairing version ${m[2]}`);
  const q = new URLSearchParams(m[3]);
  const key = q.get('symKey');
  if (!key) throw new Error('pairing URI has no symKey');
  if (q.get('relay-protocol') !== 'irn') throw new Error('pairing URI relay-protocol must be irn');
  const symKey = parseKeyHex(key);
  const topic = m[1].toLowerCase();
  if (topicOf(symKey) !== topic) throw new Error('pairing URI topic does not match its symKey');
  const expiry = Number(q.get('expiryTimestamp'));
  if (!Number.isSafeInteger(expiry) || expiry <= 0) throw new Error('pairing URI has no valid expiryTimestamp');
  if (expiry <= nowSecs) throw new Error('pairing URI has expired');
  return { topic, symKey, expiry };
}
