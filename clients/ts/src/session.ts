/**
 * Sessions over a relay, wire-compatible with the Rust `Endpoint` and with
 * WalletConnect v2: pairing, `wc_sessionPropose` answered with per-item results,
 * `wc_sessionSettle`, `wc_sessionRequest` authorised against the granted methods
 * and chains, EIP-2255 permissions, ping, delete, and replay protection.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from './bytes';
import { decodeEnvelope, openEnvelope, sealType0 } from './envelope';
import { deriveSymKey, generateKeyPair, generateSymKey, topicOf } from './keys';
import type { Transport } from './relay';
import { formatUri, parseUri } from './uri';

/** Items by kind (`chains`, `methods`, `events`, ...). */
export type Namespace = Record<string, string[]>;
/** Namespaces by name (`eip155`, ...). */
export type Namespaces = Record<string, Namespace>;

/** What a dapp asks for. */
export interface ProposalRequest {
  requiredNamespaces: Namespaces;
  optionalNamespaces?: Namespaces;
}

/** One requested item. */
export interface Item {
  namespace: string;
  kind: string;
  value: string;
  required: boolean;
}

/** The wallet's answer for one item. */
export type Outcome = { outcome: 'granted' } | { outcome: 'denied'; reason: string };
/** An item with its answer, as on the wire (`itemResults`). */
export type ItemResult = Omit<Item, 'required'> & { required: boolean } & Outcome;

/** An EIP-2255 permission. */
export interface Permission {
  invoker: string;
  parentCapability: string;
  caveats: { type: string; value: unknown }[];
  date: number;
}

/** JSON-RPC error object. */
export class RpcError extends Error {
  override name = 'RpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

/** Everything a session grants, delivered at once. */
export interface ConnectResult {
  session: string;
  pairing: string;
  role: 'proposer' | 'controller';
  accounts: string[];
  namespaces: Namespaces;
  permissions: Permission[];
  results: ItemResult[];
  expiry: number;
  peerMetadata: unknown;
  /** Six digits from the session key (sha256("heliograph-sas-v1" ‖ key)), the same on both sides. */
  shortAuthString: string;
}

/** A proposal for the wallet to answer. */
export interface IncomingProposal {
  pairing: string;
  id: number;
  request: ProposalRequest;
  proposerMetadata: unknown;
  items: Item[];
}

/** A request from the peer; answer it with `respond`. */
export interface IncomingRequest {
  session: string;
  id: number;
  method: string;
  params: unknown;
  chainId: string | null;
}

type Events = {
  proposal: IncomingProposal;
  connected: ConnectResult;
  request: IncomingRequest;
  permissionsRequested: { session: string; id: number; capabilities: string[] };
  deleted: { session: string; reason: string };
  error: Error;
};

const PERMISSION_METHODS = ['wallet_requestPermissions', 'wallet_getPermissions', 'wallet_revokePermissions'];

/** Publish tag, response tag, ttl (s), prompt per method (as WalletConnect). */
function tags(method: string): [number, number, number, boolean] {
  switch (method) {
    case 'wc_sessionPropose':
      return [1100, 1101, 300, true];
    case 'wc_sessionSettle':
      return [1102, 1103, 300, false];
    case 'wc_sessionUpdate':
      return [1104, 1105, 86400, false];
    case 'wc_sessionExtend':
      return [1106, 1107, 86400, false];
    case 'wc_sessionRequest':
      return [1108, 1109, 900, true];
    case 'wc_sessionEvent':
      return [1110, 1111, 300, true];
    case 'wc_sessionDelete':
      return [1112, 1113, 86400, false];
    case 'wc_sessionPing':
      return [1114, 1115, 86400, false];
    case 'wc_pairingPing':
      return [1002, 1003, 30, false];
    default:
      return [0, 0, 86400, false];
  }
}

/** The session-level SAS of the Rust crate: sha256("heliograph-sas-v1" ‖ key). */
export function sessionShortAuthString(key: Uint8Array): string {
  const d = sha256(concatBytes(utf8ToBytes('heliograph-sas-v1'), key));
  const n = ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
  return String(n % 1_000_000).padStart(6, '0');
}

/** Every item of a request, required first, namespaces and kinds in sorted order (as the Rust crate). */
export function requestItems(req: ProposalRequest): Item[] {
  const out: Item[] = [];
  for (const [required, spaces] of [
    [true, req.requiredNamespaces],
    [false, req.optionalNamespaces ?? {}],
  ] as const) {
    for (const ns of Object.keys(spaces).sort()) {
      for (const kind of Object.keys(spaces[ns]).sort()) {
        for (const value of spaces[ns][kind]) out.push({ namespace: ns, kind, value, required });
      }
    }
  }
  return out;
}

interface Pending {
  method: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

interface Session {
  key: Uint8Array;
  pairing: string;
  role: 'proposer' | 'controller';
  phase: 'awaitingSettle' | 'settling' | 'active';
  controllerKey?: string;
  results: ItemResult[];
  namespaces: Namespaces;
  permissions: Map<string, Permission>;
  expiry: number;
  peerMetadata: unknown;
  inbound: Set<number>;
  onConnected?: (c: ConnectResult) => void;
  onFailed?: (e: Error) => void;
}

interface Pairing {
  key: Uint8Array;
  expiry: number;
  outgoing: Map<number, { privateKey: Uint8Array; resolve: (c: ConnectResult) => void; reject: (e: Error) => void }>;
  incoming: Map<number, { proposerKey: Uint8Array; request: ProposalRequest; metadata: unknown }>;
}

/** Options of a session client. */
export interface ClientOptions {
  metadata?: { name: string; description: string; url: string; icons: string[] };
  requestTimeoutMs?: number;
  sessionTtlSecs?: number;
}

/** A party (dapp or wallet) of sessions over a relay transport. */
export class SessionClient {
  private pairings = new Map<string, Pairing>();
  private sessions = new Map<string, Session>();
  private pending = new Map<number, Pending>();
  private seen = new Map<string, Set<number>>();
  private listeners = new Map<keyof Events, ((e: never) => void)[]>();
  private lastId = 0;
  readonly metadata: NonNullable<ClientOptions['metadata']>;
  private requestTimeoutMs: number;
  private sessionTtlSecs: number;

  constructor(
    private transport: Transport,
    opts: ClientOptions = {},
  ) {
    this.metadata = opts.metadata ?? { name: 'heliograph', description: '', url: '', icons: [] };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 300_000;
    this.sessionTtlSecs = opts.sessionTtlSecs ?? 7 * 24 * 3600;
    transport.onMessage = (topic, message) => {
      try {
        this.incoming(topic, message);
      } catch (e) {
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
      }
    };
  }

  on<K extends keyof Events>(event: K, handler: (e: Events[K]) => void): void {
    const list = this.listeners.get(event) ?? [];
    list.push(handler as (e: never) => void);
    this.listeners.set(event, list);
  }

  private emit<K extends keyof Events>(event: K, value: Events[K]): void {
    for (const h of this.listeners.get(event) ?? []) (h as (e: Events[K]) => void)(value);
  }

  /** WalletConnect ids: unix_ms * 1000 + rand(1000), strictly increasing. */
  private nextId(): number {
    let id = Date.now() * 1000 + Math.floor(Math.random() * 1000);
    if (id <= this.lastId) id = this.lastId + 1;
    this.lastId = id;
    return id;
  }

  /** The key of an established session (for the WebRTC call's SAS). */
  sessionKey(session: string): Uint8Array {
    const s = this.sessions.get(session);
    if (!s || s.phase !== 'active') throw new Error(`session ${session} is not established`);
    return s.key;
  }

  /** What an established session grants. */
  sessionInfo(session: string): ConnectResult | undefined {
    const s = this.sessions.get(session);
    return s && s.phase === 'active' ? this.connectResult(session, s) : undefined;
  }

  // ---- pairing ------------------------------------------------------------------

  /** (Dapp) a new pairing; show its URI. */
  async createPairing(ttlSecs = 300): Promise<{ uri: string; topic: string }> {
    const key = generateSymKey();
    const topic = topicOf(key);
    const expiry = Math.floor(Date.now() / 1000) + ttlSecs;
    this.pairings.set(topic, { key, expiry, outgoing: new Map(), incoming: new Map() });
    await this.transport.subscribe(topic);
    return { uri: formatUri({ topic, symKey: key, expiry }), topic };
  }

  /** (Wallet) joins a pairing from its URI. */
  async pair(uri: string): Promise<string> {
    const p = parseUri(uri);
    this.pairings.set(p.topic, { key: p.symKey, expiry: p.expiry, outgoing: new Map(), incoming: new Map() });
    await this.transport.subscribe(p.topic);
    return p.topic;
  }

  /** (Dapp) proposes a session; resolves once the wallet settled it, rejects with the wallet's reason. */
  async propose(pairing: string, request: ProposalRequest): Promise<ConnectResult> {
    const p = this.pairings.get(pairing);
    if (!p) throw new Error(`unknown pairing ${pairing}`);
    const kp = generateKeyPair();
    const id = this.nextId();
    const params = {
      requiredNamespaces: request.requiredNamespaces,
      optionalNamespaces: request.optionalNamespaces ?? {},
      relays: [{ protocol: 'irn' }],
      proposer: { publicKey: bytesToHex(kp.publicKey), metadata: this.metadata },
      expiryTimestamp: Math.floor(Date.now() / 1000) + 300,
      pairingTopic: pairing,
    };
    const done = new Promise<ConnectResult>((resolve, reject) => p.outgoing.set(id, { privateKey: kp.privateKey, resolve, reject }));
    await this.publish(pairing, p.key, { id, jsonrpc: '2.0', method: 'wc_sessionPropose', params }, 'wc_sessionPropose', false);
    return done;
  }

  /**
   * (Wallet) answers each item with `decide`. One denied required item refuses the
   * whole proposal (the dapp learns which item and why). Resolves when the dapp acks the settle.
   */
  async approve(proposal: IncomingProposal, decide: (item: Item) => Outcome, accounts: string[]): Promise<ConnectResult> {
    const p = this.pairings.get(proposal.pairing);
    const incoming = p?.incoming.get(proposal.id);
    if (!p || !incoming) throw new Error(`no pending proposal ${proposal.id}`);
    p.incoming.delete(proposal.id);
    const results: ItemResult[] = requestItems(incoming.request).map((item) => ({ ...item, ...decide(item) }));
    const denied = results.find((r) => r.required && r.outcome === 'denied');
    if (denied && denied.outcome === 'denied') {
      const message = `required item ${denied.namespace}/${denied.kind}/${denied.value} denied: ${denied.reason}`;
      await this.respondOn(proposal.pairing, p.key, proposal.id, { error: { code: 5100, message, data: { itemResults: results } } }, 'wc_sessionPropose');
      throw new RpcError(5100, message);
    }
    const namespaces: Namespaces = {};
    for (const r of results) {
      if (r.outcome !== 'granted') continue;
      ((namespaces[r.namespace] ??= {})[r.kind] ??= []).push(r.value);
    }
    for (const a of accounts) ((namespaces[a.split(':')[0]] ??= {}).accounts ??= []).push(a);
    const kp = generateKeyPair();
    const key = deriveSymKey(kp.privateKey, incoming.proposerKey);
    const topic = topicOf(key);
    const expiry = Math.floor(Date.now() / 1000) + this.sessionTtlSecs;
    const invoker = (incoming.metadata as { url?: string } | null)?.url ?? '';
    const s: Session = {
      key,
      pairing: proposal.pairing,
      role: 'controller',
      phase: 'settling',
      results,
      namespaces,
      permissions: initialPermissions(namespaces, invoker),
      expiry,
      peerMetadata: incoming.metadata,
      inbound: new Set(),
    };
    this.sessions.set(topic, s);
    await this.transport.subscribe(topic);
    await this.respondOn(
      proposal.pairing,
      p.key,
      proposal.id,
      { result: { relay: { protocol: 'irn' }, responderPublicKey: bytesToHex(kp.publicKey), itemResults: results } },
      'wc_sessionPropose',
    );
    const settle = {
      relay: { protocol: 'irn' },
      namespaces,
      controller: { publicKey: bytesToHex(kp.publicKey), metadata: this.metadata },
      expiry,
      requiredNamespaces: incoming.request.requiredNamespaces,
      optionalNamespaces: incoming.request.optionalNamespaces ?? {},
      pairingTopic: proposal.pairing,
    };
    await this.request(topic, 'wc_sessionSettle', settle, null, true);
    s.phase = 'active';
    const c = this.connectResult(topic, s);
    this.emit('connected', c);
    return c;
  }

  /** (Wallet) rejects a proposal as a whole. */
  async reject(proposal: IncomingProposal, reason: string): Promise<void> {
    const p = this.pairings.get(proposal.pairing);
    if (!p?.incoming.delete(proposal.id)) throw new Error(`no pending proposal ${proposal.id}`);
    await this.respondOn(proposal.pairing, p.key, proposal.id, { error: { code: 5000, message: reason } }, 'wc_sessionPropose');
  }

  // ---- session API --------------------------------------------------------------

  /** Sends `wc_sessionRequest {request: {method, params}, chainId}`; resolves with the result. */
  async request(session: string, method: string, params: unknown, chainId: string | null = null, internal = false): Promise<unknown> {
    const s = this.sessions.get(session);
    if (!s) throw new Error(`unknown session ${session}`);
    if (!internal && s.phase !== 'active') throw new Error(`session ${session} is not established yet`);
    const id = this.nextId();
    const [outer, body] = internal ? [method, params] : ['wc_sessionRequest', { request: { method, params }, chainId }];
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(-32000, `${method}: no response within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.pending.set(id, { method: outer, resolve, reject, timer });
    });
    await this.publish(session, s.key, { id, jsonrpc: '2.0', method: outer, params: body }, outer, false);
    const value = await result;
    if (!internal && method === 'wallet_requestPermissions' && Array.isArray(value)) {
      for (const p of value as Permission[]) s.permissions.set(p.parentCapability, p);
    }
    if (!internal && method === 'wallet_revokePermissions') for (const c of capabilities(params)) s.permissions.delete(c);
    return value;
  }

  /** Answers an IncomingRequest with a result or an RpcError. */
  async respond(session: string, id: number, outcome: { result: unknown } | { error: RpcError }): Promise<void> {
    const s = this.sessions.get(session);
    if (!s || !s.inbound.delete(id)) throw new Error(`no unanswered request ${id} on this session`);
    const body = 'result' in outcome ? { result: outcome.result } : { error: { code: outcome.error.code, message: outcome.error.message } };
    await this.respondOn(session, s.key, id, body, 'wc_sessionRequest');
  }

  /** (Wallet) answers a permissions request; an empty list rejects it (4001). */
  async grantPermissions(session: string, id: number, caps: string[]): Promise<void> {
    const s = this.sessions.get(session);
    if (!s) throw new Error(`unknown session ${session}`);
    if (caps.length === 0) return this.respond(session, id, { error: new RpcError(4001, 'User rejected the request.') });
    const invoker = (s.peerMetadata as { url?: string } | null)?.url ?? '';
    const granted = caps.map((c) => ({ invoker, parentCapability: c, caveats: [], date: Date.now() }));
    for (const g of granted) s.permissions.set(g.parentCapability, g);
    return this.respond(session, id, { result: granted });
  }

  /** EIP-2255 view of a session. */
  permissions(session: string): Permission[] {
    const s = this.sessions.get(session);
    return s ? [...s.permissions.values()].sort((a, b) => (a.parentCapability < b.parentCapability ? -1 : 1)) : [];
  }

  /** Pings the peer. */
  async ping(session: string): Promise<void> {
    await this.request(session, 'wc_sessionPing', {}, null, true);
  }

  /** Ends a session (the peer is not expected to answer, like WalletConnect wallets). */
  async delete(session: string, reason = 'User disconnected.'): Promise<void> {
    const s = this.sessions.get(session);
    if (!s) return;
    await this.publish(session, s.key, { id: this.nextId(), jsonrpc: '2.0', method: 'wc_sessionDelete', params: { code: 6000, message: reason } }, 'wc_sessionDelete', false);
    this.sessions.delete(session);
    await this.transport.unsubscribe(session).catch(() => {});
  }

  // ---- internals ----------------------------------------------------------------

  private connectResult(session: string, s: Session): ConnectResult {
    const accounts = Object.values(s.namespaces).flatMap((ns) => ns.accounts ?? []);
    return {
      session,
      pairing: s.pairing,
      role: s.role,
      accounts,
      namespaces: s.namespaces,
      permissions: this.permissions(session),
      results: s.results,
      expiry: s.expiry,
      peerMetadata: s.peerMetadata,
      shortAuthString: sessionShortAuthString(s.key),
    };
  }

  private async publish(topic: string, key: Uint8Array, msg: object, method: string, response: boolean, isError = false): Promise<void> {
    const [reqTag, resTag, ttl, prompt] = tags(method);
    const tag = response ? (isError && method === 'wc_sessionPropose' ? 1120 : resTag) : reqTag;
    await this.transport.publish(topic, sealType0(key, JSON.stringify(msg)), { ttl, tag, prompt: !response && prompt });
  }

  private respondOn(topic: string, key: Uint8Array, id: number, body: { result: unknown } | { error: { code: number; message: string; data?: unknown } }, method: string): Promise<void> {
    return this.publish(topic, key, { id, jsonrpc: '2.0', ...body }, method, true, 'error' in body);
  }

  private checkReplay(topic: string, id: number): void {
    let set = this.seen.get(topic);
    if (!set) this.seen.set(topic, (set = new Set()));
    if (set.has(id)) throw new Error(`replayed request ${id} on ${topic}`);
    const ageMs = Date.now() - Math.floor(id / 1000);
    if (ageMs > 24 * 3600 * 1000 || ageMs < -300_000) throw new Error(`request ${id} is too old or from the future`);
    set.add(id);
    if (set.size > 1024) set.delete(set.values().next().value as number);
  }

  private incoming(topic: string, message: string): void {
    const pairing = this.pairings.get(topic);
    const session = this.sessions.get(topic);
    const key = pairing?.key ?? session?.key;
    if (!key) return; // not ours
    const msg = JSON.parse(openEnvelope(key, decodeEnvelope(message))) as {
      id: number;
      method?: string;
      params?: Record<string, unknown>;
      result?: unknown;
      error?: { code: number; message: string; data?: unknown };
    };
    if (typeof msg.id !== 'number') throw new Error('message without a numeric id');
    if (pairing) return this.pairingMessage(topic, pairing, msg);
    if (session) return this.sessionMessage(topic, session, msg);
  }

  private pairingMessage(topic: string, p: Pairing, msg: { id: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { code: number; message: string; data?: unknown } }): void {
    if (msg.method) {
      this.checkReplay(topic, msg.id);
      if (msg.method === 'wc_sessionPropose') {
        const params = msg.params ?? {};
        const proposer = params.proposer as { publicKey?: string; metadata?: unknown } | undefined;
        if (typeof proposer?.publicKey !== 'string' || !/^[0-9a-f]{64}$/i.test(proposer.publicKey)) throw new Error('wc_sessionPropose without a proposer.publicKey');
        const request: ProposalRequest = {
          requiredNamespaces: (params.requiredNamespaces as Namespaces) ?? {},
          optionalNamespaces: (params.optionalNamespaces as Namespaces) ?? {},
        };
        p.incoming.set(msg.id, { proposerKey: hexToBytes(proposer.publicKey.toLowerCase()), request, metadata: proposer.metadata ?? null });
        this.emit('proposal', { pairing: topic, id: msg.id, request, proposerMetadata: proposer.metadata ?? null, items: requestItems(request) });
      } else if (msg.method === 'wc_pairingPing') {
        this.respondOn(topic, p.key, msg.id, { result: true }, msg.method).catch(() => {}); // a lost answer: the peer times out or asks again
      } else {
        this.respondOn(topic, p.key, msg.id, { error: { code: -32601, message: 'method not found' } }, msg.method).catch(() => {});
      }
      return;
    }
    const out = p.outgoing.get(msg.id);
    if (!out) throw new Error(`unexpected response ${msg.id}`);
    p.outgoing.delete(msg.id);
    if (msg.error) {
      out.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
      return;
    }
    const result = msg.result as { responderPublicKey?: string; itemResults?: ItemResult[] };
    if (typeof result?.responderPublicKey !== 'string') throw new Error('proposal answer without responderPublicKey');
    const key = deriveSymKey(out.privateKey, hexToBytes(result.responderPublicKey.toLowerCase()));
    const sessionTopic = topicOf(key);
    this.sessions.set(sessionTopic, {
      key,
      pairing: topic,
      role: 'proposer',
      phase: 'awaitingSettle',
      controllerKey: result.responderPublicKey.toLowerCase(),
      results: result.itemResults ?? [],
      namespaces: {},
      permissions: new Map(),
      expiry: 0,
      peerMetadata: null,
      inbound: new Set(),
      onConnected: out.resolve,
      onFailed: out.reject,
    });
    this.transport.subscribe(sessionTopic).catch((e: Error) => out.reject(e));
  }

  private sessionMessage(topic: string, s: Session, msg: { id: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { code: number; message: string; data?: unknown } }): void {
    if (!msg.method) {
      const p = this.pending.get(msg.id);
      if (!p) throw new Error(`unexpected response ${msg.id}`);
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
      else p.resolve(msg.result);
      return;
    }
    if (s.phase === 'awaitingSettle' && msg.method !== 'wc_sessionSettle') throw new Error(`${msg.method} before the session is settled`);
    this.checkReplay(topic, msg.id);
    const params = msg.params ?? {};
    const reply = (body: { result: unknown } | { error: { code: number; message: string } }) => {
      // A lost answer (relay gone) is not actionable here: the peer times out or asks again.
      this.respondOn(topic, s.key, msg.id, body, msg.method ?? '').catch(() => {});
    };
    switch (msg.method) {
      case 'wc_sessionSettle': {
        const controller = params.controller as { publicKey?: string; metadata?: unknown } | undefined;
        if (s.phase !== 'awaitingSettle') return reply({ error: { code: -32600, message: 'already settled' } });
        if (controller?.publicKey?.toLowerCase() !== s.controllerKey) throw new Error('settlement from another controller than the one that answered the proposal');
        s.namespaces = (params.namespaces as Namespaces) ?? {};
        s.expiry = Number(params.expiry ?? 0);
        s.peerMetadata = controller?.metadata ?? null;
        s.permissions = initialPermissions(s.namespaces, this.metadata.url);
        s.phase = 'active';
        reply({ result: true });
        const c = this.connectResult(topic, s);
        s.onConnected?.(c);
        this.emit('connected', c);
        return;
      }
      case 'wc_sessionPing':
        return reply({ result: true });
      case 'wc_sessionDelete':
        this.sessions.delete(topic);
        void this.transport.unsubscribe(topic).catch(() => {});
        this.emit('deleted', { session: topic, reason: String((params as { message?: string }).message ?? '') });
        return;
      case 'wc_sessionEvent':
      case 'wc_sessionUpdate':
      case 'wc_sessionExtend':
        if (s.role === 'controller') return reply({ error: { code: 3001, message: 'Unauthorized session change: only the controller may' } });
        if (msg.method === 'wc_sessionUpdate' && params.namespaces) s.namespaces = params.namespaces as Namespaces;
        if (msg.method === 'wc_sessionExtend' && typeof params.expiry === 'number') s.expiry = params.expiry;
        return reply({ result: true });
      case 'wc_sessionRequest':
        return this.appRequest(topic, s, msg.id, params, reply);
      default:
        return reply({ error: { code: -32601, message: 'method not found' } });
    }
  }

  private appRequest(topic: string, s: Session, id: number, params: Record<string, unknown>, reply: (b: { result: unknown } | { error: { code: number; message: string } }) => void): void {
    const req = params.request as { method?: unknown; params?: unknown } | undefined;
    if (typeof req?.method !== 'string') throw new Error('wc_sessionRequest without request.method');
    const method = req.method;
    const chainId = typeof params.chainId === 'string' ? params.chainId : null;
    if (s.role === 'controller') {
      if (!PERMISSION_METHODS.includes(method) && !s.permissions.has(method)) return reply({ error: { code: 3001, message: `Unauthorized method: ${method}` } });
      if (chainId !== null && !Object.values(s.namespaces).some((ns) => (ns.chains ?? []).includes(chainId))) return reply({ error: { code: 5100, message: `Unsupported chain: ${chainId}` } });
      if (method === 'wallet_getPermissions') return reply({ result: this.permissions(topic) });
      if (method === 'wallet_revokePermissions') {
        for (const c of capabilities(req.params)) s.permissions.delete(c);
        return reply({ result: null });
      }
      if (method === 'wallet_requestPermissions') {
        s.inbound.add(id);
        this.emit('permissionsRequested', { session: topic, id, capabilities: capabilities(req.params) });
        return;
      }
    }
    if (s.inbound.size >= 32) throw new Error(`too many unanswered requests on ${topic}`);
    s.inbound.add(id);
    this.emit('request', { session: topic, id, method, params: req.params ?? null, chainId });
  }
}

/** Capabilities of an EIP-2255 params array (`[{eth_accounts: {}}, ...]`). */
function capabilities(params: unknown): string[] {
  if (!Array.isArray(params)) return [];
  return params.flatMap((p) => (p && typeof p === 'object' ? Object.keys(p as object) : []));
}

function initialPermissions(namespaces: Namespaces, invoker: string): Map<string, Permission> {
  const caps = Object.values(namespaces).flatMap((ns) => ns.methods ?? []);
  if (Object.values(namespaces).some((ns) => (ns.accounts ?? []).length > 0)) caps.push('eth_accounts');
  const m = new Map<string, Permission>();
  for (const c of caps) m.set(c, { invoker, parentCapability: c, caveats: [], date: Date.now() });
  return m;
}
