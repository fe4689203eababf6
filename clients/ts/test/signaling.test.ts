import { describe, expect, it } from 'vitest';
import { Call, SignalingError, shortAuthString, type Signal } from '../src/index';

const fp = (b: number) => 'sha-256 ' + Array(32).fill(b.toString(16).padStart(2, '0').toUpperCase()).join(':');
const sdp = (f: string, ufrag: string) =>
  `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n` +
  `c=IN IP4 0.0.0.0\r\na=ice-ufrag:${ufrag}\r\na=ice-pwd:0123456789abcdefghijklmn\r\na=fingerprint:${f}\r\na=setup:actpass\r\na=mid:0\r\n`;
const key = new Uint8Array(32).fill(9);

function pump(from: Call, to: Call): void {
  let s: Signal | undefined;
  while ((s = from.pollSignal())) to.handle(s.method, s.params);
}

describe('Call (TS port of the Rust state machine)', () => {
  it('offer, answer, candidates and restart give both sides one SAS', () => {
    const a = new Call(key, fp(1));
    const b = new Call(key, fp(2));
    a.offer('c1', sdp(fp(1), 'a'));
    a.candidate({ candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 });
    pump(a, b);
    const offer = b.pollEvent();
    expect(offer?.kind).toBe('incomingOffer');
    expect(b.pollEvent()?.kind).toBe('remoteCandidate');
    b.answer(sdp(fp(2), 'b'));
    pump(b, a);
    const ans = a.pollEvent();
    expect(ans?.kind).toBe('answered');
    expect(a.sas).toBe(b.sas);
    expect(a.sas).toMatch(/^\d{6}$/);
    expect(() => a.verifyRemoteCertificate(fp(3))).toThrow(/mismatch/);
    a.verifyRemoteCertificate(fp(2));
    b.restart(sdp(fp(2), 'b2'));
    pump(b, a);
    expect(a.pollEvent()?.kind).toBe('restartOffer');
    a.answer(sdp(fp(1), 'a2'));
    pump(a, b);
    expect(b.pollEvent()).toMatchObject({ kind: 'answered', sas: a.sas });
    a.hangup('bye');
    pump(a, b);
    expect(b.pollEvent()).toEqual({ kind: 'hungUp', callId: 'c1', reason: 'bye' });
  });

  it('a tampered SDP fingerprint is refused; a consistent substitution changes the SAS', () => {
    const a = new Call(key, fp(1));
    const b = new Call(key, fp(2));
    a.offer('c1', sdp(fp(1), 'a'));
    const s = a.pollSignal()!;
    const tampered = { ...s.params, sdp: sdp(fp(0x66), 'a') };
    try {
      b.handle(s.method, tampered);
      expect.unreachable('tampered offer accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(SignalingError);
      expect((e as SignalingError).kind).toBe('FingerprintMismatch');
      expect((e as Error).message).toContain('call refused');
    }
    expect(b.pollEvent()).toBeUndefined();
    // Substituted everywhere: accepted, but the two SAS differ, which users see.
    b.handle(s.method, { ...s.params, sdp: sdp(fp(0x66), 'a'), fingerprint: fp(0x66) });
    b.answer(sdp(fp(2), 'b'));
    pump(b, a);
    expect(a.sas).toBeDefined();
    expect(a.sas).not.toBe(b.sas);
    expect(shortAuthString(key, fp(1), fp(2))).toBe(a.sas);
  });

  it('glare: the offer with the higher fingerprint wins on both sides', () => {
    const lo = new Call(key, fp(1));
    const hi = new Call(key, fp(2));
    lo.offer('lo', sdp(fp(1), 'l'));
    hi.offer('hi', sdp(fp(2), 'h'));
    const [toHi, toLo] = [lo.pollSignal()!, hi.pollSignal()!];
    hi.handle(toHi.method, toHi.params);
    lo.handle(toLo.method, toLo.params);
    expect(hi.pollEvent()).toBeUndefined();
    expect(lo.pollEvent()).toEqual({ kind: 'rollback', callId: 'lo' });
    expect(lo.pollEvent()?.kind).toBe('incomingOffer');
    lo.answer(sdp(fp(1), 'l2'));
    pump(lo, hi);
    expect(hi.pollEvent()?.kind).toBe('answered');
    expect(lo.callId).toBe('hi');
    expect(lo.sas).toBe(hi.sas);
  });

  it('refuses messages out of state or for another call', () => {
    const b = new Call(key, fp(2));
    expect(() => b.handle('wrtc_answer', { callId: 'x', sdp: sdp(fp(1), 'u'), fingerprint: fp(1) })).toThrow(/not the current call/);
    expect(() => b.handle('eth_sign', {})).toThrow(/not a signaling method/);
    expect(() => b.handle('wrtc_offer', { callId: 'c' })).toThrow(/malformed/);
    expect(() => b.answer(sdp(fp(2), 'u'))).toThrow(/not allowed/);
  });
});
