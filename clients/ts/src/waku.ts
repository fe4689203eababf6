/**
 * A typed client of the bridge's `waku_*` JSON-RPC methods (docs/bridge.md):
 * `waku_subscribe` with `waku_subscription` pushes, `waku_unsubscribe`,
 * `waku_publish`, `waku_history` (paged) and `waku_info`. Messages use nwaku's
 * REST JSON: payload and meta in standard base64, timestamps in nanoseconds
 * (a `bigint`, as they exceed 2^53). A bridge token (`?token=`) is passed when given;
 * `authenticate()` swaps it on the open socket (`bridge_authenticate`), and
 * `onTokenExpiring` hears the node's `bridge_tokenExpiring` notice (sent 30 s
 * before the token expires; the node closes the socket with 1008 at expiry).
 */
import { fromBase64, toBase64 } from './bytes.js';

/** A Waku message as the bridge reads and writes it. */
export interface WakuMessage {
  payload: Uint8Array;
  contentTopic: string;
  /** Unix nanoseconds (the node sets now when absent). */
  timestamp?: bigint;
  meta?: Uint8Array;
  version?: number;
  /** Relayed but never stored. */
  ephemeral?: boolean;
}

/** A message the node accepted, with its deterministic hash (0x hex) and pubsub topic. */
export interface ReceivedMessage {
  hash: string;
  pubsubTopic: string;
  message: WakuMessage;
}

/** Query of `waku_history`. */
export interface HistoryQuery {
  contentTopics: string[];
  pubsubTopic?: string;
  /** Unix nanoseconds. */
  startTime?: bigint;
  endTime?: bigint;
  pageSize?: number;
  ascending?: boolean;
  /** From the previous page. */
  cursor?: string;
}

/** One page of history; `cursor` is `null` on the last page. */
export interface HistoryPage {
  messages: ReceivedMessage[];
  cursor: string | null;
}

/** What `waku_info` answers. */
export interface WakuInfo {
  peerId: string;
  listenAddresses: string[];
  enrUri: string | null;
  pubsubTopics: string[];
  peers: number;
  store: boolean;
  version: string;
}

/** An error the bridge answered with (JSON-RPC code and message). */
export class BridgeError extends Error {
  override name = 'BridgeError';
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** What `bridge_authenticate` answers: the new token's expiry (Unix seconds) and subject. */
export interface TokenGrant {
  expiresAt: number;
  subject: string;
}

/** Parses a `bridge_authenticate` answer. */
export function tokenGrantFromWire(v: unknown): TokenGrant {
  const r = v as { expiresAt?: unknown; subject?: unknown };
  if (typeof r?.expiresAt !== 'number' || typeof r.subject !== 'string') throw new BridgeError('malformed bridge_authenticate answer', -32603);
  return { expiresAt: r.expiresAt, subject: r.subject };
}

/** The expiry (Unix seconds) of a `bridge_tokenExpiring` notification, or `undefined` if `msg` is not one. */
export function tokenExpiringOf(msg: { method?: unknown; params?: unknown }): number | undefined {
  if (msg.method !== 'bridge_tokenExpiring') return undefined;
  const at = (msg.params as { expiresAt?: unknown } | undefined)?.expiresAt;
  return typeof at === 'number' ? at : undefined;
}

/** Options of a bridge connection. */
export interface WakuClientOptions {
  /** A bridge token (opaque `hgt_…` or a capability JWT), sent as `?token=`. */
  token?: string;
  /** How long a request waits for its answer (default 15 s). */
  timeoutMs?: number;
}

/** Largest payload this client sends (the node's own bound refuses more anyway). */
const MAX_PAYLOAD_BYTES = 1 << 20;

/** Parses JSON, keeping integers of 16+ digits (ns timestamps) exact as strings. */
function parseExact(text: string): unknown {
  return JSON.parse(text.replace(/("timestamp"|"startTime"|"endTime"):(-?\d{16,})/g, '$1:"$2"'));
}

function messageToWire(m: WakuMessage): string {
  if (m.payload.length > MAX_PAYLOAD_BYTES) throw new BridgeError(`payload of ${m.payload.length} bytes exceeds ${MAX_PAYLOAD_BYTES}`, -32602);
  const parts = [`"payload":${JSON.stringify(toBase64(m.payload))}`, `"contentTopic":${JSON.stringify(m.contentTopic)}`];
  if (m.timestamp !== undefined) parts.push(`"timestamp":${m.timestamp.toString()}`);
  if (m.meta !== undefined) parts.push(`"meta":${JSON.stringify(toBase64(m.meta))}`);
  if (m.version !== undefined) parts.push(`"version":${m.version}`);
  if (m.ephemeral !== undefined) parts.push(`"ephemeral":${m.ephemeral}`);
  return `{${parts.join(',')}}`;
}

function messageFromWire(v: unknown): ReceivedMessage {
  const r = v as { hash?: unknown; pubsubTopic?: unknown; message?: Record<string, unknown> };
  const m = r?.message;
  if (typeof r?.hash !== 'string' || typeof r.pubsubTopic !== 'string' || !m || typeof m.payload !== 'string' || typeof m.contentTopic !== 'string') {
    throw new BridgeError(`malformed waku message from the bridge: ${JSON.stringify(v).slice(0, 200)}`, -32603);
  }
  const message: WakuMessage = { payload: fromBase64(m.payload), contentTopic: m.contentTopic };
  if (typeof m.timestamp === 'string' || typeof m.timestamp === 'number') message.timestamp = BigInt(m.timestamp);
  if (typeof m.meta === 'string') message.meta = fromBase64(m.meta);
  if (typeof m.version === 'number') message.version = m.version;
  if (typeof m.ephemeral === 'boolean') message.ephemeral = m.ephemeral;
  return { hash: r.hash, pubsubTopic: r.pubsubTopic, message };
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A connection to the bridge's `waku_*` API. */
export class WakuClient {
  private pending = new Map<number, Pending>();
  private handlers = new Map<string, (m: ReceivedMessage) => void>();
  private lastId = 0;
  /** Called when the socket closes (the client does not reconnect); 1008 `bridge token expired…`/`…revoked` for its token. */
  onClose: (code: number, reason: string) => void = () => {};
  /** Called when the node says the socket's token expires at `expiresAt` (Unix seconds): `authenticate()` with a fresh one. */
  onTokenExpiring: (expiresAt: number) => void = () => {};

  private constructor(
    private ws: WebSocket,
    private timeoutMs: number,
  ) {
    ws.addEventListener('message', (ev) => this.onFrame(String(ev.data)));
    ws.addEventListener('close', (ev) => {
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new BridgeError(`bridge connection closed (${ev.code} ${ev.reason})`, -32000));
      }
      this.pending.clear();
      this.onClose(ev.code, ev.reason);
    });
  }

  /** Opens the bridge at `url` (e.g. `ws://127.0.0.1:8090`). */
  static connect(url: string, opts: WakuClientOptions = {}): Promise<WakuClient> {
    const u = new URL(url);
    if (opts.token !== undefined) u.searchParams.set('token', opts.token);
    const ws = new WebSocket(u.toString());
    return new Promise((resolve, reject) => {
      const fail = (ev: Event | CloseEvent) => {
        const detail = 'code' in ev ? ` (close ${ev.code} ${ev.reason})` : '';
        reject(new BridgeError(`cannot connect to the bridge at ${url.replace(/\?.*$/, '')}${detail}`, -32000));
      };
      ws.addEventListener('error', fail, { once: true });
      ws.addEventListener('close', fail, { once: true });
      ws.addEventListener(
        'open',
        () => {
          ws.removeEventListener('error', fail);
          ws.removeEventListener('close', fail);
          resolve(new WakuClient(ws, opts.timeoutMs ?? 15_000));
        },
        { once: true },
      );
    });
  }

  /** Subscribes to `contentTopics`; `handler` gets each message; resolves with the subscription id. */
  async subscribe(contentTopics: string[], handler: (m: ReceivedMessage) => void, opts: { pubsubTopic?: string } = {}): Promise<string> {
    const params = JSON.stringify({ contentTopics, ...(opts.pubsubTopic ? { pubsubTopic: opts.pubsubTopic } : {}) });
    const id = await this.call('waku_subscribe', params);
    if (typeof id !== 'string') throw new BridgeError('waku_subscribe returned no subscription id', -32603);
    this.handlers.set(id, handler);
    return id;
  }

  /** Ends a subscription; resolves with whether the node knew it. */
  async unsubscribe(subscription: string): Promise<boolean> {
    this.handlers.delete(subscription);
    return (await this.call('waku_unsubscribe', JSON.stringify({ subscription }))) === true;
  }

  /** Publishes into the mesh and the store; resolves with the message hash and the relay peers it went to. */
  async publish(message: WakuMessage, opts: { pubsubTopic?: string } = {}): Promise<{ hash: string; relayPeers: number }> {
    const pubsub = opts.pubsubTopic ? `,"pubsubTopic":${JSON.stringify(opts.pubsubTopic)}` : '';
    const r = (await this.call('waku_publish', `{"message":${messageToWire(message)}${pubsub}}`)) as { hash?: unknown; relayPeers?: unknown };
    if (typeof r?.hash !== 'string' || typeof r.relayPeers !== 'number') throw new BridgeError('malformed waku_publish answer', -32603);
    return { hash: r.hash, relayPeers: r.relayPeers };
  }

  /** One page of stored messages. */
  async history(q: HistoryQuery): Promise<HistoryPage> {
    const parts = [`"contentTopics":${JSON.stringify(q.contentTopics)}`];
    if (q.pubsubTopic !== undefined) parts.push(`"pubsubTopic":${JSON.stringify(q.pubsubTopic)}`);
    if (q.startTime !== undefined) parts.push(`"startTime":${q.startTime.toString()}`);
    if (q.endTime !== undefined) parts.push(`"endTime":${q.endTime.toString()}`);
    if (q.pageSize !== undefined) parts.push(`"pageSize":${q.pageSize}`);
    if (q.ascending !== undefined) parts.push(`"ascending":${q.ascending}`);
    if (q.cursor !== undefined) parts.push(`"cursor":${JSON.stringify(q.cursor)}`);
    const r = (await this.call('waku_history', `{${parts.join(',')}}`)) as { messages?: unknown; cursor?: unknown };
    if (!Array.isArray(r?.messages)) throw new BridgeError('malformed waku_history answer', -32603);
    return { messages: r.messages.map(messageFromWire), cursor: typeof r.cursor === 'string' ? r.cursor : null };
  }

  /** Every stored message of the query, page after page (at most `maxPages`). */
  async *historyAll(q: HistoryQuery, maxPages = 100): AsyncGenerator<ReceivedMessage> {
    let cursor = q.cursor;
    for (let page = 0; page < maxPages; page++) {
      const p = await this.history({ ...q, ...(cursor !== undefined ? { cursor } : {}) });
      yield* p.messages;
      if (p.cursor === null) return;
      cursor = p.cursor;
    }
  }

  /**
   * Swaps the socket's bridge token for `token` (opaque or capability) without
   * reconnecting; subscriptions and requests in flight are kept. The node refuses
   * a token of another subject than the current one (BridgeError -32001).
   */
  async authenticate(token: string): Promise<TokenGrant> {
    return tokenGrantFromWire(await this.call('bridge_authenticate', JSON.stringify({ token })));
  }

  /** The node's identity, addresses, topics and peer count. */
  async info(): Promise<WakuInfo> {
    return (await this.call('waku_info', '{}')) as WakuInfo;
  }

  /** Closes the socket. */
  close(): void {
    this.ws.close(1000, 'bye');
  }

  private call(method: string, params: string): Promise<unknown> {
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      if (this.ws.readyState !== WebSocket.OPEN) return reject(new BridgeError('bridge connection is closed', -32000));
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new BridgeError(`${method}: no answer from the bridge within ${this.timeoutMs} ms`, -32000));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(`{"jsonrpc":"2.0","id":${id},"method":"${method}","params":${params}}`);
    });
  }

  private onFrame(text: string): void {
    let msg: { id?: unknown; method?: string; params?: { subscription?: unknown; result?: unknown }; result?: unknown; error?: { code?: number; message?: string } };
    try {
      msg = parseExact(text) as typeof msg;
    } catch {
      return;
    }
    const expiring = tokenExpiringOf(msg);
    if (expiring !== undefined) {
      this.onTokenExpiring(expiring);
      return;
    }
    if (msg.method === 'waku_subscription') {
      const handler = typeof msg.params?.subscription === 'string' ? this.handlers.get(msg.params.subscription) : undefined;
      if (!handler) return;
      let m: ReceivedMessage;
      try {
        m = messageFromWire(msg.params?.result);
      } catch {
        return; // a malformed push is dropped, the subscription goes on
      }
      handler(m);
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) p.reject(new BridgeError(msg.error.message ?? 'bridge error', msg.error.code ?? -32603));
    else p.resolve(msg.result);
  }
}
