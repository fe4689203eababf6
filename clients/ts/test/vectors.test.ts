// Shared vectors generated and checked by session-protocol/tests/signaling.rs (Rust):
// the TS client must produce and accept the same bytes.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Call,
  addressOf,
  bytesToHex,
  decodeEnvelope,
  deriveSymKey,
  fingerprintFromSdp,
  formatUri,
  hashMessage,
  hexToBytes,
  keyPairFromPrivate,
  messageBytes,
  openEnvelope,
  parseFingerprint,
  parseSignal,
  parseUri,
  personalSign,
  recoverAddress,
  sealType0,
  shortAuthString,
  topicOf,
  utf8ToBytes,
} from '../src/index';

const path = fileURLToPath(new URL('../../../session-protocol/tests/vectors/signaling.json', import.meta.url));
const v = JSON.parse(readFileSync(path, 'utf8'));

describe('shared vectors (Rust ⇄ TS)', () => {
  it('short authentication strings match the Rust crate', () => {
    expect(v.sas.length).toBeGreaterThan(3);
    for (const c of v.sas) {
      expect(shortAuthString(hexToBytes(c.key), c.a, c.b)).toBe(c.sas);
    }
    // and the order of the fingerprints does not matter, a changed one does
    expect(v.sas[0].sas).toBe(v.sas[1].sas);
    expect(v.sas[0].sas).not.toBe(v.sas[2].sas);
  });

  it('fingerprints are canonicalised alike', () => {
    for (const f of v.fingerprints) {
      if (f.canonical === null) expect(() => parseFingerprint(f.input)).toThrow(/malformed DTLS fingerprint/);
      else expect(parseFingerprint(f.input)).toBe(f.canonical);
    }
    expect(fingerprintFromSdp(v.sdpFingerprint.sdp)).toBe(v.sdpFingerprint.fingerprint);
  });

  it('signaling messages parse to the params the Rust crate sends', () => {
    expect(v.signals.map((s: { method: string }) => s.method)).toEqual(['wrtc_offer', 'wrtc_candidate', 'wrtc_candidate', 'wrtc_hangup']);
    for (const s of v.signals) {
      expect(parseSignal(s.method, s.params).params).toEqual(s.params);
    }
  });

  it('the TS Call sends exactly the params the Rust crate sends', () => {
    const [offer, candidate, end, hangup] = v.signals;
    const call = new Call(hexToBytes(v.session.symKey), offer.params.fingerprint);
    call.offer(offer.params.callId, offer.params.sdp);
    call.candidate(candidate.params.candidate);
    call.candidate(end.params.candidate);
    call.hangup(hangup.params.reason);
    for (const expected of v.signals) {
      const sent = call.pollSignal();
      expect(sent?.method).toBe(expected.method);
      expect(JSON.parse(JSON.stringify(sent?.params))).toEqual(expected.params);
    }
    expect(call.pollSignal()).toBeUndefined();
  });

  it('a renegotiation (track added mid-call) goes as in Rust: wrtc_renegotiate, answered, same SAS', () => {
    const r = v.renegotiation;
    const [offer, answer, reoffer, reanswer] = r.signals;
    expect(r.signals.map((s: { method: string }) => s.method)).toEqual(['wrtc_offer', 'wrtc_answer', 'wrtc_renegotiate', 'wrtc_answer']);
    const key = hexToBytes(r.symKey);
    // The caller side: the TS Call sends the same renegotiation offer.
    const dapp = new Call(key, offer.params.fingerprint);
    dapp.offer(offer.params.callId, offer.params.sdp);
    dapp.handle(answer.method, answer.params);
    dapp.renegotiate(reoffer.params.sdp);
    expect(() => dapp.renegotiate(reoffer.params.sdp)).toThrow('renegotiation not allowed while the call is renegotiating');
    for (const expected of [offer, reoffer]) {
      const sent = dapp.pollSignal();
      expect(sent?.method).toBe(expected.method);
      expect(JSON.parse(JSON.stringify(sent?.params))).toEqual(expected.params);
    }
    // The callee side: the TS Call turns it into a renegotiateOffer and answers alike.
    const wallet = new Call(key, answer.params.fingerprint);
    wallet.handle(offer.method, offer.params);
    wallet.answer(answer.params.sdp);
    wallet.handle(reoffer.method, reoffer.params);
    expect(wallet.pollEvent()?.kind).toBe('incomingOffer');
    expect(wallet.pollEvent()).toEqual({ kind: 'renegotiateOffer', callId: reoffer.params.callId, sdp: reoffer.params.sdp });
    wallet.answer(reanswer.params.sdp);
    wallet.pollSignal();
    expect(JSON.parse(JSON.stringify(wallet.pollSignal()?.params))).toEqual(reanswer.params);
    dapp.handle(reanswer.method, reanswer.params);
    expect(dapp.pollEvent()?.kind).toBe('answered');
    const again = dapp.pollEvent();
    expect(again?.kind === 'answered' && again.sas).toBe(r.sas);
    expect(dapp.sas).toBe(r.sas);
    expect(wallet.sas).toBe(r.sas);
  });

  it('a tampered offer is refused with the same error text as in Rust', () => {
    const t = v.tamperedOffer;
    expect(() => parseSignal(t.method, t.params)).toThrow(t.error);
    expect(t.error).toMatch(/DTLS fingerprint mismatch.*call refused/);
    const call = new Call(hexToBytes(v.session.symKey), v.sas[0].b);
    expect(() => call.handle(t.method, t.params)).toThrow(/DTLS fingerprint mismatch/);
    expect(call.pollEvent()).toBeUndefined();
  });

  it('session keys agree with the Rust X25519 + HKDF derivation', () => {
    const a = keyPairFromPrivate(hexToBytes(v.session.privateA));
    const b = keyPairFromPrivate(hexToBytes(v.session.privateB));
    expect(bytesToHex(a.publicKey)).toBe(v.session.publicA);
    expect(bytesToHex(b.publicKey)).toBe(v.session.publicB);
    const k = deriveSymKey(a.privateKey, b.publicKey);
    expect(bytesToHex(k)).toBe(v.session.symKey);
    expect(bytesToHex(deriveSymKey(b.privateKey, a.publicKey))).toBe(v.session.symKey);
    expect(topicOf(k)).toBe(v.session.topic);
  });

  it('envelopes are byte-identical and open both ways', () => {
    const key = hexToBytes(v.envelope.symKey);
    expect(sealType0(key, v.envelope.plaintext, hexToBytes(v.envelope.iv))).toBe(v.envelope.message);
    const plain = openEnvelope(key, decodeEnvelope(v.envelope.message));
    expect(plain).toBe(v.envelope.plaintext);
    const req = JSON.parse(plain);
    expect(req.params.request.method).toBe('wrtc_offer');
    expect(() => openEnvelope(hexToBytes(v.pairing.symKey), decodeEnvelope(v.envelope.message))).toThrow(/wrong key or tampered/);
  });

  it('pairing URIs format and parse alike', () => {
    const key = hexToBytes(v.pairing.symKey);
    expect(formatUri({ topic: v.pairing.topic, symKey: key, expiry: v.pairing.expiry })).toBe(v.pairing.uri);
    const p = parseUri(v.pairing.uri, 1_800_000_000);
    expect(p.topic).toBe(v.pairing.topic);
    expect(() => parseUri(v.pairing.uri, v.pairing.expiry)).toThrow(/expired/);
    expect(() => parseUri(v.pairing.uri.replace('symKey=33', 'symKey=34'), 0)).toThrow(/does not match/);
  });

  it('EIP-191 personal_sign matches the Rust hash and address, and recovers', () => {
    const priv = hexToBytes(v.eip191.privateKey);
    expect(addressOf(priv)).toBe(v.eip191.address);
    expect(bytesToHex(hashMessage(messageBytes(v.eip191.message)))).toBe(v.eip191.hash);
    const sig = personalSign(priv, v.eip191.message);
    expect(recoverAddress(v.eip191.message, sig)).toBe(v.eip191.address);
    expect(recoverAddress(v.eip191.message + '!', sig)).not.toBe(v.eip191.address);
    const hexMsg = '0x' + bytesToHex(utf8ToBytes(v.eip191.message));
    expect(personalSign(priv, hexMsg)).toBe(sig);
  });
});
