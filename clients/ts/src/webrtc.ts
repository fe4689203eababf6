/**
 * A WebRTC DataChannel call over a session (browser), with media tracks added mid-call
 * by renegotiation: drives an RTCPeerConnection
 * (host candidates only unless given STUN/TURN servers and a transport policy)
 * with the signaling `Call`, trickles ICE candidates, shows the SAS, and after DTLS
 * checks the certificate the peer actually presented against the authenticated one.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, randomBytes } from './bytes.js';
import { RpcError, type IncomingRequest, type SessionClient } from './session.js';
import { Call, REFUSED_CODE, SIGNALING_METHODS, SignalingError, type CandidateInit, type Signal } from './signaling.js';

/** Call progress, for the UI. */
export type CallState = 'idle' | 'calling' | 'ringing' | 'connecting' | 'open' | 'closed' | 'failed';

/** Callbacks of a PeerCall. */
export interface PeerCallHandlers {
  onState?: (state: CallState, detail?: string) => void;
  onSas?: (sas: string) => void;
  onMessage?: (text: string) => void;
  onError?: (error: Error) => void;
  /** After DTLS: whether the presented certificate was checked against the authenticated fingerprint. */
  onCertificate?: (status: 'verified' | 'unavailable') => void;
  /** An ICE restart completed (ours or the peer's); the SAS is unchanged. */
  onRestarted?: (sas: string) => void;
  /** Both sides offered at once and ours lost: we answer the peer's offer instead. */
  onGlare?: () => void;
  /** A media track of the peer arrived (after its renegotiation). */
  onTrack?: (track: MediaStreamTrack, streams: readonly MediaStream[]) => void;
  /** A renegotiation (ours or the peer's, for added tracks) completed; the SAS is unchanged. */
  onRenegotiated?: (sas: string) => void;
}

/** Test hooks: what a man in the middle on the signaling path would do. */
export interface PeerCallHooks {
  /** Rewrites our outgoing SDP after the fingerprint was authenticated. */
  tamperSdp?: (sdp: string) => string;
}

/** How the peer connection finds a path (default: host candidates only, as on a LAN). */
export interface IceOptions {
  /** STUN/TURN servers, e.g. from `iceServersFromTurn(await relay.turnCredentials())`. */
  iceServers?: RTCIceServer[];
  /** `relay` uses TURN only (hides the IP addresses; the path a strict NAT leaves). */
  iceTransportPolicy?: RTCIceTransportPolicy;
}

/** The `RTCIceServer` list for TURN credentials from the node (none: no servers). */
export function iceServersFromTurn(c: { urls: string[]; username: string; credential: string } | undefined): RTCIceServer[] {
  return c ? [{ urls: c.urls, username: c.username, credential: c.credential }] : [];
}

/** Canonical fingerprint of a DER certificate. */
export function certificateFingerprint(der: ArrayBuffer): string {
  const hex = bytesToHex(sha256(new Uint8Array(der))).toUpperCase();
  return 'sha-256 ' + hex.match(/../g)!.join(':');
}

/** One WebRTC call over a session. Both sides create one; either may `start()`. */
export class PeerCall {
  private pc!: RTCPeerConnection;
  private call!: Call;
  private channel?: RTCDataChannel;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  /** Our candidates gathered before the offer or answer was handed to the Call. */
  private localCandidates: (CandidateInit | null)[] = [];
  private certificateChecked = false;
  /** Our new offer on the established call awaiting its answer, if any. */
  private reoffer?: 'restart' | 'renegotiate';
  private remoteSet = false;
  private queue: Promise<void> = Promise.resolve();
  state: CallState = 'idle';
  sas?: string;
  /** Time the DataChannel opened (performance.now()). */
  openedAt?: number;

  private constructor(
    private client: SessionClient,
    readonly session: string,
    private handlers: PeerCallHandlers,
    private hooks: PeerCallHooks,
  ) {}

  /** Prepares a call (certificate, peer connection) and starts listening for the peer's signaling. */
  static async create(client: SessionClient, session: string, handlers: PeerCallHandlers = {}, hooks: PeerCallHooks = {}, ice: IceOptions = {}): Promise<PeerCall> {
    const c = new PeerCall(client, session, handlers, hooks);
    const cert = await RTCPeerConnection.generateCertificate({ name: 'ECDSA', namedCurve: 'P-256' } as EcKeyGenParams);
    const fp = cert.getFingerprints().find((f) => f.algorithm === 'sha-256');
    if (!fp?.value) throw new Error('the browser gave no sha-256 certificate fingerprint');
    c.call = new Call(client.sessionKey(session), `sha-256 ${fp.value}`);
    c.pc = new RTCPeerConnection({ iceServers: ice.iceServers ?? [], iceTransportPolicy: ice.iceTransportPolicy ?? 'all', certificates: [cert] });
    c.pc.onicecandidate = (ev) => {
      const cand: CandidateInit | null = ev.candidate ? { candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid, sdpMLineIndex: ev.candidate.sdpMLineIndex } : null;
      c.localCandidates.push(cand);
      c.sendCandidates();
    };
    c.pc.ondatachannel = (ev) => c.attach(ev.channel);
    c.pc.ontrack = (ev) => c.handlers.onTrack?.(ev.track, ev.streams);
    c.pc.onconnectionstatechange = () => {
      if (c.pc.connectionState === 'failed') c.setState('failed', 'ICE/DTLS connection failed');
      if (c.pc.connectionState === 'connected') c.verifyCertificate(false);
    };
    client.on('request', (r) => {
      if (r.session === session && (SIGNALING_METHODS as readonly string[]).includes(r.method)) c.enqueue(() => c.onSignal(r));
    });
    return c;
  }

  /** The underlying peer connection (for stats). */
  get connection(): RTCPeerConnection {
    return this.pc;
  }

  get localFingerprint(): string {
    return this.call.localFingerprint;
  }

  /** Places the call: creates the DataChannel and sends the offer. */
  start(): Promise<void> {
    return this.enqueue(async () => {
      this.attach(this.pc.createDataChannel('chat', { ordered: true }));
      await this.pc.setLocalDescription(await this.pc.createOffer());
      const callId = bytesToHex(randomBytes(8));
      this.call.offer(callId, this.pc.localDescription!.sdp);
      this.setState('calling');
      this.flush();
      this.sendCandidates();
    });
  }

  /** Restarts ICE on the established call (new ICE credentials, same DTLS fingerprint and SAS). */
  restart(): Promise<void> {
    return this.enqueue(async () => {
      await this.pc.setLocalDescription(await this.pc.createOffer({ iceRestart: true }));
      this.call.restart(this.pc.localDescription!.sdp);
      this.reoffer = 'restart';
      this.flush();
      this.sendCandidates();
    });
  }

  /** Adds a media track to the established call: a new offer over the same signaling (`wrtc_renegotiate`). */
  addTrack(track: MediaStreamTrack, ...streams: MediaStream[]): Promise<void> {
    return this.enqueue(async () => {
      this.pc.addTrack(track, ...streams);
      await this.pc.setLocalDescription(await this.pc.createOffer());
      this.call.renegotiate(this.pc.localDescription!.sdp);
      this.reoffer = 'renegotiate';
      this.flush();
      this.sendCandidates();
    });
  }

  /** Sends a chat message on the open DataChannel. */
  send(text: string): void {
    if (this.channel?.readyState !== 'open') throw new Error('the data channel is not open');
    this.channel.send(text);
  }

  /** Hangs up. */
  hangup(reason = 'hung up'): void {
    this.call.hangup(reason);
    this.flush();
    this.pc.close();
    this.setState('closed', reason);
  }

  private enqueue(task: () => Promise<void> | void): Promise<void> {
    this.queue = this.queue.then(task).catch((e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))));
    return this.queue;
  }

  private setState(s: CallState, detail?: string): void {
    // The channel may open while an answer's remaining steps still run: never go back from open.
    if (this.state === 'open' && (s === 'connecting' || s === 'ringing' || s === 'calling')) return;
    this.state = s;
    this.handlers.onState?.(s, detail);
  }

  private fail(e: Error): void {
    this.setState('failed', e.message);
    this.handlers.onError?.(e);
  }

  private attach(ch: RTCDataChannel): void {
    this.channel = ch;
    ch.onopen = () => {
      this.openedAt = performance.now();
      this.verifyCertificate(true);
      this.setState('open');
    };
    ch.onclose = () => {
      if (this.state === 'open') this.setState('closed', 'channel closed');
    };
    ch.onmessage = (ev) => this.handlers.onMessage?.(String(ev.data));
  }

  /** Hands gathered candidates to the Call once our description is in it (offer or answer sent). */
  private sendCandidates(): void {
    const s = this.call.established || this.state === 'calling' || this.state === 'connecting';
    if (!s || this.call.callId === undefined) return;
    for (const c of this.localCandidates.splice(0)) this.call.candidate(c);
    this.flush();
  }

  /** Sends what the Call queued, in order; a refusal by the peer fails the call with its reason. */
  private flush(): void {
    let s: Signal | undefined;
    while ((s = this.call.pollSignal())) {
      let params: unknown = s.params;
      if ((s.method === 'wrtc_offer' || s.method === 'wrtc_answer') && this.hooks.tamperSdp) {
        params = { ...s.params, sdp: this.hooks.tamperSdp(s.params.sdp) };
      }
      const method = s.method;
      this.client.request(this.session, method, params).catch((e: unknown) => {
        // A refused candidate or hang-up is benign (e.g. for the call that lost a glare);
        // a refused offer, answer or restart ends the call with the peer's reason.
        if (method === 'wrtc_candidate' || method === 'wrtc_hangup') return;
        this.fail(e instanceof RpcError && e.code === REFUSED_CODE ? new Error(`the peer refused the call: ${e.message}`) : (e as Error));
      });
    }
  }

  private async onSignal(r: IncomingRequest): Promise<void> {
    try {
      this.call.handle(r.method, r.params);
    } catch (e) {
      const msg = e instanceof SignalingError ? e.message : String(e);
      await this.client.respond(r.session, r.id, { error: new RpcError(REFUSED_CODE, msg) });
      if (e instanceof SignalingError && e.kind === 'FingerprintMismatch') this.fail(new Error(`incoming call refused: ${msg}`));
      return;
    }
    await this.client.respond(r.session, r.id, { result: true });
    let ev;
    while ((ev = this.call.pollEvent())) {
      switch (ev.kind) {
        case 'rollback':
          await this.pc.setLocalDescription({ type: 'rollback' });
          this.localCandidates = [];
          this.handlers.onGlare?.();
          break;
        case 'incomingOffer':
        case 'restartOffer':
        case 'renegotiateOffer':
          this.setState('ringing');
          if (ev.kind === 'incomingOffer') this.showSas(ev.sas);
          await this.pc.setRemoteDescription({ type: 'offer', sdp: ev.sdp });
          await this.remoteReady();
          await this.pc.setLocalDescription(await this.pc.createAnswer());
          this.call.answer(this.pc.localDescription!.sdp);
          this.setState('connecting');
          this.flush();
          this.sendCandidates();
          if (ev.kind === 'restartOffer') this.handlers.onRestarted?.(this.call.sas ?? '');
          if (ev.kind === 'renegotiateOffer') this.handlers.onRenegotiated?.(this.call.sas ?? '');
          // A new offer of ours still in flight lost to the peer's (the browser rolled it back):
          // a track we added goes in this answer when its kind matches the peer's new one.
          if (ev.kind !== 'incomingOffer') this.reoffer = undefined;
          break;
        case 'answered':
          this.showSas(ev.sas);
          this.setState('connecting');
          await this.pc.setRemoteDescription({ type: 'answer', sdp: ev.sdp });
          await this.remoteReady();
          if (this.reoffer === 'restart') this.handlers.onRestarted?.(ev.sas);
          if (this.reoffer === 'renegotiate') this.handlers.onRenegotiated?.(ev.sas);
          this.reoffer = undefined;
          break;
        case 'remoteCandidate':
          if (ev.candidate === null) break;
          if (this.remoteSet) await this.pc.addIceCandidate(ev.candidate);
          else this.pendingCandidates.push(ev.candidate);
          break;
        case 'hungUp':
          this.pc.close();
          this.setState('closed', ev.reason || 'the peer hung up');
          break;
      }
    }
  }

  private async remoteReady(): Promise<void> {
    this.remoteSet = true;
    for (const c of this.pendingCandidates.splice(0)) await this.pc.addIceCandidate(c);
  }

  private showSas(sas: string): void {
    this.sas = sas;
    this.handlers.onSas?.(sas);
  }

  /** After DTLS: the presented certificate must be the authenticated one (RFC 8827). */
  private verifyCertificate(final: boolean): void {
    if (this.certificateChecked) return;
    const transport = this.pc.sctp?.transport as (RTCDtlsTransport & { getRemoteCertificates?: () => ArrayBuffer[] }) | undefined;
    const certs = transport?.getRemoteCertificates?.();
    if (!certs || certs.length === 0) {
      // Not exposed (yet): retried when the channel opens; then the SDP check stands alone.
      if (final) this.handlers.onCertificate?.('unavailable');
      return;
    }
    this.certificateChecked = true;
    try {
      this.call.verifyRemoteCertificate(certificateFingerprint(certs[0]));
      this.handlers.onCertificate?.('verified');
    } catch (e) {
      this.hangup('certificate mismatch');
      this.fail(e as Error);
    }
  }
}
