/**
 * WebRTC signaling inside a session, the same wire format as the Rust module
 * `heliograph_session::signaling`: `wrtc_offer`, `wrtc_answer`, `wrtc_candidate`,
 * `wrtc_restart`, `wrtc_renegotiate` (a new offer after a track was added or removed),
 * `wrtc_hangup` carried as `wc_sessionRequest`s; offers and answers
 * name the sender's DTLS fingerprint, which must match its SDP; a 6-digit short
 * authentication string binds the session key and both fingerprints:
 *
 *   sas = u32be(HKDF-SHA256(ikm = session key, info = "heliograph-sas" ‖ 0 ‖ min ‖ 0 ‖ max)[0..4]) mod 10^6
 *
 * Glare: the offer with the higher fingerprint wins, the other side rolls back.
 */
import { hkdf } from '@noble/hashes/hkdf';
import { sha256 } from '@noble/hashes/sha2';
import { concatBytes, utf8ToBytes } from './bytes.js';

export const METHOD_OFFER = 'wrtc_offer';
export const METHOD_ANSWER = 'wrtc_answer';
export const METHOD_CANDIDATE = 'wrtc_candidate';
export const METHOD_RESTART = 'wrtc_restart';
export const METHOD_RENEGOTIATE = 'wrtc_renegotiate';
export const METHOD_HANGUP = 'wrtc_hangup';
/** Every signaling method: a dapp asks for them so the wallet grants calls. */
export const SIGNALING_METHODS = [METHOD_OFFER, METHOD_ANSWER, METHOD_CANDIDATE, METHOD_RESTART, METHOD_RENEGOTIATE, METHOD_HANGUP] as const;
/** JSON-RPC error code of a refused signaling message. */
export const REFUSED_CODE = 5300;
/** Largest SDP accepted. */
export const MAX_SDP_LEN = 64 * 1024;

/** Why a signaling message or action was refused (same texts as the Rust crate). */
export class SignalingError extends Error {
  override name = 'SignalingError';
  constructor(
    message: string,
    readonly kind: 'BadFingerprint' | 'NoFingerprint' | 'AmbiguousFingerprint' | 'FingerprintMismatch' | 'SameFingerprint' | 'UnknownMethod' | 'Malformed' | 'SdpTooLarge' | 'UnknownCall' | 'WrongState',
  ) {
    super(message);
  }
}

/** Canonical fingerprint text: `sha-256 AB:CD:…` (algorithm lowercase, hex uppercase). */
export function parseFingerprint(text: string): string {
  const bad = () => new SignalingError(`malformed DTLS fingerprint \`${text.slice(0, 200)}\``, 'BadFingerprint');
  const parts = text.split(/[ \t\r\n]+/).filter((p) => p !== '');
  if (parts.length !== 2) throw bad();
  const algorithm = parts[0].toLowerCase();
  if (!/^[a-z0-9-]+$/.test(algorithm)) throw bad();
  const bytes = parts[1].split(':');
  if (bytes.length < 16 || bytes.length > 64 || !bytes.every((b) => /^[0-9a-fA-F]{2}$/.test(b))) throw bad();
  return `${algorithm} ${parts[1].toUpperCase()}`;
}

/** The fingerprint of an SDP: every `a=fingerprint:` line must name the same one. */
export function fingerprintFromSdp(sdp: string): string {
  let found: string | undefined;
  for (const raw of sdp.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.startsWith('a=fingerprint:')) continue;
    const fp = parseFingerprint(line.slice('a=fingerprint:'.length).trim());
    if (found !== undefined && found !== fp) throw new SignalingError('the SDP has several different DTLS fingerprints', 'AmbiguousFingerprint');
    found = fp;
  }
  if (found === undefined) throw new SignalingError('the SDP has no a=fingerprint line', 'NoFingerprint');
  return found;
}

/** Throws FingerprintMismatch unless `sdp` carries exactly `expected`. */
export function checkSdp(sdp: string, expected: string): void {
  const inSdp = fingerprintFromSdp(sdp);
  if (inSdp !== expected) throw mismatch(expected, inSdp);
}

function mismatch(expected: string, inSdp: string): SignalingError {
  return new SignalingError(`DTLS fingerprint mismatch: the SDP has ${inSdp}, the authenticated one is ${expected}; call refused`, 'FingerprintMismatch');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0; // code-unit order = byte order for ASCII
}

/** The 6-digit SAS of a call; the same whatever the order of `a` and `b`. */
export function shortAuthString(sessionKey: Uint8Array, a: string, b: string): string {
  const [lo, hi] = compare(a, b) <= 0 ? [a, b] : [b, a];
  const info = concatBytes(utf8ToBytes('heliograph-sas'), Uint8Array.of(0), utf8ToBytes(lo), Uint8Array.of(0), utf8ToBytes(hi));
  const out = hkdf(sha256, sessionKey, undefined, info, 4);
  const n = ((out[0] << 24) | (out[1] << 16) | (out[2] << 8) | out[3]) >>> 0;
  return String(n % 1_000_000).padStart(6, '0');
}

/** A trickled ICE candidate (`RTCIceCandidateInit`). */
export interface CandidateInit {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

/** One signaling message. */
export type Signal =
  | { method: typeof METHOD_OFFER | typeof METHOD_ANSWER | typeof METHOD_RESTART | typeof METHOD_RENEGOTIATE; params: { callId: string; sdp: string; fingerprint: string } }
  | { method: typeof METHOD_CANDIDATE; params: { callId: string; candidate: CandidateInit | null } }
  | { method: typeof METHOD_HANGUP; params: { callId: string; reason: string } };

/** Parses and checks a received signaling request (fingerprint must match the SDP). */
export function parseSignal(method: string, params: unknown): Signal {
  if (!(SIGNALING_METHODS as readonly string[]).includes(method)) throw new SignalingError(`\`${method.slice(0, 80)}\` is not a signaling method`, 'UnknownMethod');
  const malformed = (what: string) => new SignalingError(`malformed ${method}: ${what}`, 'Malformed');
  const p = (params ?? {}) as Record<string, unknown>;
  const callId = p.callId;
  if (typeof callId !== 'string') throw malformed('no callId');
  if (callId.length === 0 || callId.length > 128) throw malformed('callId must be 1 to 128 characters');
  switch (method) {
    case METHOD_OFFER:
    case METHOD_ANSWER:
    case METHOD_RESTART:
    case METHOD_RENEGOTIATE: {
      if (typeof p.sdp !== 'string') throw malformed('no sdp');
      if (utf8ToBytes(p.sdp).length > MAX_SDP_LEN) throw new SignalingError(`SDP of ${p.sdp.length} bytes exceeds the limit of ${MAX_SDP_LEN}`, 'SdpTooLarge');
      if (typeof p.fingerprint !== 'string') throw malformed('no fingerprint');
      const fingerprint = parseFingerprint(p.fingerprint);
      checkSdp(p.sdp, fingerprint);
      return { method, params: { callId, sdp: p.sdp, fingerprint } };
    }
    case METHOD_CANDIDATE: {
      if (!('candidate' in p)) throw malformed('no candidate');
      const c = p.candidate as Record<string, unknown> | null;
      if (c === null) return { method, params: { callId, candidate: null } };
      if (typeof c.candidate !== 'string') throw malformed('no candidate.candidate');
      if (c.candidate.length > 1024) throw malformed('candidate too long');
      const sdpMid = typeof c.sdpMid === 'string' ? c.sdpMid : null;
      const sdpMLineIndex = typeof c.sdpMLineIndex === 'number' && Number.isInteger(c.sdpMLineIndex) && c.sdpMLineIndex >= 0 ? c.sdpMLineIndex : null;
      return { method, params: { callId, candidate: { candidate: c.candidate, sdpMid, sdpMLineIndex } } };
    }
    default:
      return { method: METHOD_HANGUP, params: { callId, reason: typeof p.reason === 'string' ? p.reason.slice(0, 256) : '' } };
  }
}

/** What the application must do after `Call.handle`. */
export type CallEvent =
  | { kind: 'incomingOffer'; callId: string; sdp: string; sas: string }
  | { kind: 'rollback'; callId: string }
  | { kind: 'answered'; callId: string; sdp: string; sas: string }
  | { kind: 'restartOffer'; callId: string; sdp: string }
  | { kind: 'renegotiateOffer'; callId: string; sdp: string }
  | { kind: 'remoteCandidate'; callId: string; candidate: CandidateInit | null }
  | { kind: 'hungUp'; callId: string; reason: string };

type State =
  | { name: 'idle' }
  | { name: 'offering'; callId: string }
  | { name: 'answerDue'; callId: string; remote: string }
  | { name: 'established'; callId: string; remote: string; restart: 'none' | 'sent' | 'due' };

function stateName(s: State): string {
  switch (s.name) {
    case 'idle':
      return 'idle';
    case 'offering':
      return 'offering';
    case 'answerDue':
      return 'waiting for our answer';
    case 'established':
      return s.restart === 'none' ? 'established' : 'renegotiating';
  }
}

/** One side of a call: the signaling state machine (sans-IO, like the Rust `Call`). */
export class Call {
  private state: State = { name: 'idle' };
  private outbox: Signal[] = [];
  private events: CallEvent[] = [];

  constructor(
    private readonly sessionKey: Uint8Array,
    readonly localFingerprint: string,
  ) {
    this.localFingerprint = parseFingerprint(localFingerprint);
  }

  /** The peer's authenticated fingerprint, once known. */
  get remoteFingerprint(): string | undefined {
    return this.state.name === 'answerDue' || this.state.name === 'established' ? this.state.remote : undefined;
  }

  /** The SAS, once the peer's fingerprint is known. */
  get sas(): string | undefined {
    const r = this.remoteFingerprint;
    return r === undefined ? undefined : shortAuthString(this.sessionKey, this.localFingerprint, r);
  }

  get callId(): string | undefined {
    return this.state.name === 'idle' ? undefined : this.state.callId;
  }

  get established(): boolean {
    return this.state.name === 'established';
  }

  private wrong(action: string): SignalingError {
    return new SignalingError(`${action} not allowed while the call is ${stateName(this.state)}`, 'WrongState');
  }

  offer(callId: string, sdp: string): void {
    if (this.state.name !== 'idle') throw this.wrong('offer');
    checkSdp(sdp, this.localFingerprint);
    this.state = { name: 'offering', callId };
    this.outbox.push({ method: METHOD_OFFER, params: { callId, sdp, fingerprint: this.localFingerprint } });
  }

  answer(sdp: string): void {
    checkSdp(sdp, this.localFingerprint);
    const s = this.state;
    if (!(s.name === 'answerDue' || (s.name === 'established' && s.restart === 'due'))) throw this.wrong('answer');
    this.outbox.push({ method: METHOD_ANSWER, params: { callId: s.callId, sdp, fingerprint: this.localFingerprint } });
    this.state = { name: 'established', callId: s.callId, remote: s.remote, restart: 'none' };
  }

  candidate(candidate: CandidateInit | null): void {
    if (this.state.name === 'idle') throw this.wrong('candidate');
    this.outbox.push({ method: METHOD_CANDIDATE, params: { callId: this.state.callId, candidate } });
  }

  restart(sdp: string): void {
    this.reoffer(sdp, 'ICE restart', METHOD_RESTART);
  }

  /** A new offer on the established call after a track was added or removed (same fingerprint and SAS). */
  renegotiate(sdp: string): void {
    this.reoffer(sdp, 'renegotiation', METHOD_RENEGOTIATE);
  }

  private reoffer(sdp: string, action: string, method: typeof METHOD_RESTART | typeof METHOD_RENEGOTIATE): void {
    checkSdp(sdp, this.localFingerprint);
    const s = this.state;
    if (s.name !== 'established' || s.restart !== 'none') throw this.wrong(action);
    s.restart = 'sent';
    this.outbox.push({ method, params: { callId: s.callId, sdp, fingerprint: this.localFingerprint } });
  }

  hangup(reason: string): void {
    if (this.state.name !== 'idle') this.outbox.push({ method: METHOD_HANGUP, params: { callId: this.state.callId, reason } });
    this.state = { name: 'idle' };
  }

  /** Checks the certificate fingerprint DTLS actually presented against the authenticated one. */
  verifyRemoteCertificate(presented: string): void {
    const expected = this.remoteFingerprint;
    if (expected === undefined) throw this.wrong('certificate check');
    const p = parseFingerprint(presented);
    if (p !== expected) throw mismatch(expected, p);
  }

  /** Handles a peer's signaling request; on error answer it with REFUSED_CODE and the message. */
  handle(method: string, params: unknown): void {
    const signal = parseSignal(method, params);
    const current = this.callId;
    const sameCall = current === signal.params.callId;
    const unknownCall = () => new SignalingError(`message for call \`${signal.params.callId}\`, which is not the current call`, 'UnknownCall');
    const s = this.state;
    switch (signal.method) {
      case METHOD_OFFER: {
        const { callId, sdp, fingerprint } = signal.params;
        if (s.name === 'offering') {
          const c = compare(fingerprint, this.localFingerprint);
          if (c === 0) throw new SignalingError('both parties present the same DTLS fingerprint; call refused', 'SameFingerprint');
          if (c < 0) return; // glare, our offer wins
          this.events.push({ kind: 'rollback', callId: s.callId });
          this.state = { name: 'idle' };
        } else if (s.name !== 'idle') {
          throw this.wrong('offer');
        }
        if (fingerprint === this.localFingerprint) throw new SignalingError('both parties present the same DTLS fingerprint; call refused', 'SameFingerprint');
        const sas = shortAuthString(this.sessionKey, this.localFingerprint, fingerprint);
        this.state = { name: 'answerDue', callId, remote: fingerprint };
        this.events.push({ kind: 'incomingOffer', callId, sdp, sas });
        return;
      }
      case METHOD_ANSWER: {
        const { callId, sdp, fingerprint } = signal.params;
        if (!sameCall) throw unknownCall();
        if (s.name === 'offering') {
          if (fingerprint === this.localFingerprint) throw new SignalingError('both parties present the same DTLS fingerprint; call refused', 'SameFingerprint');
          this.state = { name: 'established', callId, remote: fingerprint, restart: 'none' };
          this.events.push({ kind: 'answered', callId, sdp, sas: shortAuthString(this.sessionKey, this.localFingerprint, fingerprint) });
        } else if (s.name === 'established' && s.restart === 'sent') {
          if (s.remote !== fingerprint) throw mismatch(s.remote, fingerprint);
          s.restart = 'none';
          this.events.push({ kind: 'answered', callId, sdp, sas: shortAuthString(this.sessionKey, this.localFingerprint, fingerprint) });
        } else {
          throw this.wrong('answer');
        }
        return;
      }
      case METHOD_RESTART:
      case METHOD_RENEGOTIATE: {
        const { callId, sdp, fingerprint } = signal.params;
        const renegotiate = signal.method === METHOD_RENEGOTIATE;
        if (!sameCall) throw unknownCall();
        if (s.name !== 'established' || s.restart === 'due') throw this.wrong(renegotiate ? 'renegotiation' : 'ICE restart');
        if (s.remote !== fingerprint) throw mismatch(s.remote, fingerprint);
        // Glare of new offers (restarts, renegotiations): the higher fingerprint's wins.
        if (s.restart === 'sent' && compare(fingerprint, this.localFingerprint) < 0) return;
        s.restart = 'due';
        this.events.push({ kind: renegotiate ? 'renegotiateOffer' : 'restartOffer', callId, sdp });
        return;
      }
      case METHOD_CANDIDATE:
        if (!sameCall) throw unknownCall();
        this.events.push({ kind: 'remoteCandidate', callId: signal.params.callId, candidate: signal.params.candidate });
        return;
      case METHOD_HANGUP:
        if (!sameCall) throw unknownCall();
        this.state = { name: 'idle' };
        this.events.push({ kind: 'hungUp', callId: signal.params.callId, reason: signal.params.reason });
        return;
    }
  }

  pollSignal(): Signal | undefined {
    return this.outbox.shift();
  }

  pollEvent(): CallEvent | undefined {
    return this.events.shift();
  }
}
