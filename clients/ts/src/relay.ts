/**
 * A client of the WalletConnect v2 relay protocol (the Heliograph bridge):
 * `irn_subscribe` / `irn_unsubscribe` / `irn_publish` requests, and acks of the
 * relay's `irn_subscription` pushes. Works with the browser's WebSocket and Node 20+.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, randomBytes, utf8ToBytes } from './bytes';
import { didKey, signRelayJwt } from './auth';

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

/** A connected relay client. */
export class RelayClient implements Transport {
  onMessage: (topic: string, message: string) => void = () => {};
  /** Called once when the socket closes (code, reason). */
  onClose: (code: number, reason: string) => void = () => {};
  private pending = new Map<string, Pending>();
  private seen = new Set<string>();
  private closed = false;

  private constructor(
    private ws: WebSocket,
    readonly clientId: string,
    private timeoutMs: number,
  ) {
    ws.addEventListener('message', (ev) => this.onFrame(String(ev.data)));
    ws.addEventListener('close', (ev) => {
      this.closed = true;
      for (const [, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new RelayError(`relay connection closed (${ev.code} ${ev.reason})`));
      }
      this.pending.clear();
      this.onClose(ev.code, ev.reason);
    });
  }

  /** Opens `relayUrl` (e.g. `ws://127.0.0.1:8090`) with a fresh did:key JWT. */
  static connect(relayUrl: string, opts: { seed?: Uint8Array; timeoutMs?: number; projectId?: string } = {}): Promise<RelayClient> {
    const seed = opts.seed ?? randomBytes(32);
    const aud = relayUrl.replace(/\?.*$/, '');
    const jwt = signRelayJwt(seed, aud);
    const url = new URL(relayUrl);
    url.searchParams.set('auth', jwt);
    url.searchParams.set('projectId', opts.projectId ?? 'heliograph-demo');
    url.searchParams.set('ua', 'wc-2/heliograph-ts-0.1.0/browser');
    const ws = new WebSocket(url.toString());
    const clientId = didKey(ed25519.getPublicKey(seed));
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
          resolve(new RelayClient(ws, clientId, opts.timeoutMs ?? 15_000));
        },
        { once: true },
      );
    });
  }

  /** Whether the socket is open. */
  get connected(): boolean {
    return !this.closed && this.ws.readyState === WebSocket.OPEN;
  }

  async subscribe(topic: string): Promise<void> {
    const id = await this.call('irn_subscribe', { topic });
    if (!id) throw new RelayError(`irn_subscribe of ${topic} returned no subscription id`);
  }

  async unsubscribe(topic: string): Promise<void> {
    const id = bytesToHex(sha256(utf8ToBytes(topic + this.clientId)));
    await this.call('irn_unsubscribe', { topic, id });
  }

  async publish(topic: string, message: string, opts: PublishOptions): Promise<void> {
    await this.call('irn_publish', { topic, message, ttl: opts.ttl, tag: opts.tag, prompt: opts.prompt ?? false });
  }

  /** Closes the socket. */
  close(): void {
    this.ws.close(1000, 'bye');
  }

  private call(method: string, params: Record<string, unknown>): Promise<unknown> {
    if (!this.connected) return Promise.reject(new RelayError('relay connection is closed'));
    const id = nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RelayError(`${method}: no answer from the relay within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.ws.send(JSON.stringify({ id, jsonrpc: '2.0', method, params }));
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
