/**
 * A client of the WalletConnect v2 relay protocol (the Heliograph bridge):
 * `irn_subscribe` / `irn_unsubscribe` / `irn_publish` requests, and acks of the
 * relay's `irn_subscription` pushes. Works with the browser's WebSocket and Node 20+.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, randomBytes, utf8ToBytes } from './bytes.js';
import { didKey, signRelayJwt } from './auth.js';
import { tokenExpiringOf, tokenGrantFromWire, type TokenGrant } from './waku.js';

/** Options of one publish. */
export interface PublishOptions {
  ttl: number;
  tag: number;
  prompt?: boolean;
}

/** What a session client needs from a relay. */
export interface Transport {
  subscribe(topic: string): Promise<void>;
  unsubscribe(topic: string): Promise<void>;
  publish(topic: string, message: string, opts: PublishOptions): Promise<void>;
  /** Set by the session client: called for every pushed message. */
  onMessage: (topic: string, message: string) => void;
}

/** An error the relay answered a request with. */
export class RelayError extends Error {
  override name = 'RelayError';
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

interface Pending {
  frame: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

let lastId = 0n;
/** 19-digit request ids like WalletConnect clients (`Date.now()*1e6 + rand`), strictly increasing. */
function nextId(): string {
  let id = BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
  if (id <= lastId) id = lastId + 1n;
  lastId = id;
  return id.toString();
}

/** Short-lived TURN credentials from the node's `turn_credentials` method. */
export interface TurnCredentials {
  urls: string[];
  username: string;
  credential: string;
  /** Seconds they stay valid. */
  ttl: number;
}

/** The bridge's error code when the node has no TURN server configured. */
export const TURN_NOT_CONFIGURED = -32002;

/** Options of a relay connection. */
export interface RelayOptions {
  /** Ed25519 seed of the client id (did:key); kept across reconnects. */
  seed?: Uint8Array;
  /** How long a request waits for the relay's answer (including a reconnect). */
  timeoutMs?: number;
  projectId?: string;
  /** Reconnect after an unexpected close (default true). */
  reconnect?: boolean;
  /** A bridge token (opaque `hgt_…` or capability JWT), sent as `?token=` next to the did:key JWT. */
  token?: string;
}

function openSocket(relayUrl: string, seed: Uint8Array, projectId: string, token: string | undefined): Promise<WebSocket> {
  const aud = relayUrl.replace(/\?.*$/, '');
  const url = new URL(relayUrl);
  url.searchParams.set('auth', signRelayJwt(seed, aud));
  url.searchParams.set('projectId', projectId);
  url.searchParams.set('ua', 'wc-2/heliograph-ts-0.1.0/browser');
  if (token !== undefined) url.searchParams.set('token', token);
  const ws = new WebSocket(url.toString());
  return new Promise((resolve, reject) => {
    const fail = (ev: Event | CloseEvent) => {
      const detail = 'code' in ev ? ` (close ${ev.code} ${ev.reason})` : '';
      reject(new RelayError(`cannot connect to the relay at ${aud}${detail}`));
    };
    ws.addEventListener('error', fail, { once: true });
    ws.addEventListener('close', fail, { once: true });
    ws.addEventListener(
      'open',
      () => {
        ws.removeEventListener('error', fail);
        ws.removeEventListener('close', fail);
        resolve(ws);
      },
      { once: true },
    );
  });
}

/**
 * A relay client. After an unexpected close it reconnects with the same client id
 * (backoff 0.1 s, 1 s, 2 s, then 5 s), subscribes its topics again (the relay then
 * pushes what was stored meanwhile) and re-sends requests still unanswered.
 */
export class RelayClient implements Transport {
  onMessage: (topic: string, message: string) => void = () => {};
  /** Connection changes: `reconnecting` after an unexpected close, `connected` once back. */
  onStatus: (status: 'connected' | 'reconnecting', detail: string) => void = () => {};
  /** Called when the client gives up the connection for good (after `close()`, or without reconnect). */
  onClose: (code: number, reason: string) => void = () => {};
  /** Called when the node says the bridge token expires at `expiresAt` (Unix seconds): `authenticate()` with a fresh one. */
  onTokenExpiring: (expiresAt: number) => void = () => {};
  private pending = new Map<string, Pending>();
  private seen = new Set<string>();
  private topics = new Set<string>();
  private ended = false;

  private constructor(
    private ws: WebSocket,
    readonly clientId: string,
    private relayUrl: string,
    private seed: Uint8Array,
    private opts: Required<Omit<RelayOptions, 'seed' | 'token'>> & { token?: string },
  ) {
    this.bind(ws);
  }

  /** Opens `relayUrl` (e.g. `ws://127.0.0.1:8090`) with a did:key JWT. */
  static async connect(relayUrl: string, opts: RelayOptions = {}): Promise<RelayClient> {
    const seed = opts.seed ?? randomBytes(32);
    const full = { timeoutMs: opts.timeoutMs ?? 15_000, projectId: opts.projectId ?? 'heliograph-demo', reconnect: opts.reconnect ?? true, ...(opts.token !== undefined ? { token: opts.token } : {}) };
    const ws = await openSocket(relayUrl, seed, full.projectId, full.token);
    return new RelayClient(ws, didKey(ed25519.getPublicKey(seed)), relayUrl, seed, full);
  }

  private bind(ws: WebSocket): void {
    ws.addEventListener('message', (ev) => this.onFrame(String(ev.data)));
    ws.addEventListener('close', (ev) => {
      if (ws !== this.ws) return;
      if (this.ended || !this.opts.reconnect) {
        this.ended = true;
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new RelayError(`relay connection closed (${ev.code} ${ev.reason})`));
        }
        this.pending.clear();
        this.onClose(ev.code, ev.reason);
        return;
      }
      this.onStatus('reconnecting', `closed (${ev.code}${ev.reason ? ' ' + ev.reason : ''})`);
      void this.reconnect();
    });
  }

  private async reconnect(): Promise<void> {
    const delays = [100, 1000, 2000];
    for (let attempt = 0; !this.ended; attempt++) {
      await new Promise((r) => setTimeout(r, delays[attempt] ?? 5000));
      if (this.ended) return;
      let ws: WebSocket;
      try {
        ws = await openSocket(this.relayUrl, this.seed, this.opts.projectId, this.opts.token);
      } catch (e) {
        this.onStatus('reconnecting', (e as Error).message);
        continue;
      }
      this.ws = ws;
      this.bind(ws);
      for (const topic of this.topics) ws.send(JSON.stringify({ id: nextId(), jsonrpc: '2.0', method: 'irn_subscribe', params: { topic } }));
      for (const [, p] of this.pending) ws.send(p.frame);
      this.onStatus('connected', 'reconnected');
      return;
    }
  }

  /** Whether the socket is open. */
  get connected(): boolean {
    return !this.ended && this.ws.readyState === WebSocket.OPEN;
  }

  async subscribe(topic: string): Promise<void> {
    this.topics.add(topic);
    const id = await this.call('irn_subscribe', { topic });
    if (!id) throw new RelayError(`irn_subscribe of ${topic} returned no subscription id`);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
    const id = bytesToHex(sha256(utf8ToBytes(topic + this.clientId)));
    await this.call('irn_unsubscribe', { topic, id });
  }

  async publish(topic: string, message: string, opts: PublishOptions): Promise<void> {
    await this.call('irn_publish', { topic, message, ttl: opts.ttl, tag: opts.tag, prompt: opts.prompt ?? false });
  }

  /**
   * Short-lived credentials for the node operator's TURN server, or `undefined` when
   * the node has none configured (other errors, e.g. rate limits, are thrown).
   */
  async turnCredentials(): Promise<TurnCredentials | undefined> {
    let r: unknown;
    try {
      r = await this.call('turn_credentials', {});
    } catch (e) {
      if (e instanceof RelayError && e.code === TURN_NOT_CONFIGURED) return undefined;
      throw e;
    }
    const c = r as Partial<TurnCredentials> | null;
    const ok = c && Array.isArray(c.urls) && c.urls.every((u) => typeof u === 'string') && typeof c.username === 'string' && typeof c.credential === 'string' && typeof c.ttl === 'number';
    if (!ok) throw new RelayError(`turn_credentials returned a malformed result: ${JSON.stringify(r)}`);
    return c as TurnCredentials;
  }

  /**
   * Swaps the bridge token for `token` on the open socket (`bridge_authenticate`),
   * keeping subscriptions; later reconnects use it too. The node refuses a token of
   * another subject than the current one.
   */
  async authenticate(token: string): Promise<TokenGrant> {
    const grant = tokenGrantFromWire(await this.call('bridge_authenticate', { token }));
    this.opts.token = token;
    return grant;
  }

  /** Closes the socket for good. */
  close(): void {
    this.ended = true;
    this.ws.close(1000, 'bye');
  }

  /** Test hook: drops the socket as a network failure would (the client reconnects). */
  dropConnection(): void {
    this.ws.close(4000, 'dropped');
  }

  private call(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (this.ended) return Promise.reject(new RelayError('relay connection is closed'));
    const id = nextId();
    const frame = JSON.stringify({ id, jsonrpc: '2.0', method, params });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RelayError(`${method}: no answer from the relay within ${this.opts.timeoutMs} ms`));
      }, this.opts.timeoutMs);
      this.pending.set(id, { frame, resolve, reject, timer });
      // While reconnecting the frame waits in `pending` and is sent once the socket is back.
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
    });
  }

  private onFrame(text: string): void {
    let msg: { id?: unknown; method?: string; params?: { data?: { topic?: string; message?: string } }; result?: unknown; error?: { code?: number; message?: string } };
    try {
      // Server ids may exceed 2^53: keep them verbatim by quoting long integers before parsing.
      msg = JSON.parse(text.replace(/"id":(\d{16,})/, '"id":"$1"'));
    } catch {
      return;
    }
    if (typeof msg.method === 'string') {
      const expiring = tokenExpiringOf(msg);
      if (expiring !== undefined) this.onTokenExpiring(expiring);
      if (msg.method.endsWith('_subscription')) {
        const rawId = /"id":(\d{16,})/.exec(text)?.[1];
        const ack = rawId ? `{"id":${rawId},"jsonrpc":"2.0","result":true}` : JSON.stringify({ id: msg.id, jsonrpc: '2.0', result: true });
        this.ws.send(ack);
        const data = msg.params?.data;
        if (data && typeof data.topic === 'string' && typeof data.message === 'string' && data.message !== '') {
          const key = data.topic + ':' + data.message;
          if (this.seen.has(key)) return; // at-least-once delivery: drop exact duplicates
          this.seen.add(key);
          if (this.seen.size > 4096) this.seen.delete(this.seen.values().next().value as string);
          this.onMessage(data.topic, data.message);
        }
      }
      return;
    }
    const id = String(msg.id);
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new RelayError(msg.error.message ?? 'relay error', msg.error.code));
    else p.resolve(msg.result);
  }
}
