/**
 * Sessions over a relay, wire-compatible with the Rust `Endpoint` and with
 * WalletConnect Sign v2 (the JSON itself is mapped in `walletconnect.ts`): pairing,
 * `wc_sessionPropose` answered with per-item results, `wc_sessionSettle`,
 * `wc_sessionRequest` authorised against the granted methods and chains, events,
 * update, extend, EIP-2255 permissions, session and pairing ping and delete,
 * expiry, replay protection, presence (heartbeats and the peer's online/offline
 * state) and persistence: `snapshot()` / `restore()` in the Rust crate's
 * `Snapshot` JSON, saved to a `KeyValueStore` after every change when one is given.
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from './bytes.js';
import { decodeEnvelope, openEnvelope, sealType0 } from './envelope.js';
import { deriveSymKey, generateKeyPair, generateSymKey, topicOf } from './keys.js';
import type { Transport } from './relay.js';
import { Presence, type PeerState } from './presence.js';
import { ReplayWindow, type ReplayWindowJson } from './replay.js';
import type { KeyValueStore } from './store.js';
import { formatUri, parseUri } from './uri.js';
import {
  MAX_SESSION_TTL_SECS,
  WcFormatError,
  buildEvent,
  buildPropose,
  buildRequest,
  buildSettle,
  grants,
  grantsChain,
  isExpired,
  nowSeconds,
  parseEvent,
  parseExtend,
  parsePropose,
  parseReason,
  parseRequest,
  parseSettle,
  parseUpdate,
  toWcSessionNamespaces,
  wcError,
  type WcErrorName,
  type WcReason,
} from './walletconnect.js';

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

/** What a client reports, by event name (subscribe with `on`). */
export type SessionEvents = {
  /** (Wallet) a dapp proposes a session: `approve` or `reject` it. */
  proposal: IncomingProposal;
  /** A session is settled. */
  connected: ConnectResult;
  /** The peer sent a request: `respond` to it. */
  request: IncomingRequest;
  /** (Wallet) the dapp asks for EIP-2255 permissions: `grantPermissions`. */
  permissionsRequested: { session: string; id: number; capabilities: string[] };
  /** (Dapp) the wallet changed the session's namespaces (`wc_sessionUpdate`). */
  updated: { session: string; namespaces: Namespaces; accounts: string[] };
  /** (Dapp) the wallet extended the session (`wc_sessionExtend`); `expiry` in unix seconds. */
  extended: { session: string; expiry: number };
  /** The peer emitted an event (`wc_sessionEvent`). */
  event: { session: string; name: string; data: unknown; chainId: string };
  /** The peer pinged a session (answered already). */
  ping: { session: string };
  /** The peer pinged a pairing (answered already). */
  pairingPing: { pairing: string };
  /** The peer ended a session; `code` 6000 is "User disconnected.". */
  deleted: { session: string; code: number; reason: string };
  /** The peer deleted a pairing. */
  pairingDeleted: { pairing: string; code: number; reason: string };
  /** A session passed its expiry and was dropped. */
  expired: { session: string };
  /** The peer of a session went offline (silent past `offlineAfterMs`) or came back. */
  presence: { session: string; state: PeerState };
  /** The answer to a request sent before a restore (its promise was lost with the old page or process). */
  response: { session: string; id: number; method: string; result?: unknown; error?: RpcError };
  /** A message could not be handled (bad input from the peer, a lost answer). */
  error: Error;
};

/** Format version of a snapshot (the Rust crate's `SNAPSHOT_VERSION`). */
export const SNAPSHOT_VERSION = 1;

/** A saved pairing (Rust `PairingSnapshot`). */
export interface PairingSnapshot {
  topic: string;
  /** Hex symmetric key (secret). */
  symKey: string;
  /** Unix seconds. */
  expiry: number;
  window: ReplayWindowJson;
}

/** A saved request waiting for its answer (Rust `PendingSnapshot`). */
export interface PendingSnapshot {
  method: string;
  deadlineUnixMs: number;
  internal: boolean;
  change?: 'request' | { revoke: string[] } | null;
}

/** A saved established session (Rust `SessionSnapshot`). */
export interface SessionSnapshot {
  topic: string;
  symKey: string;
  pairing: string;
  role: 'proposer' | 'controller';
  peerMetadata: unknown;
  namespaces: Namespaces;
  results: ItemResult[];
  expiry: number;
  permissions: { granted: Record<string, Permission> };
  pendingOut: Record<string, PendingSnapshot>;
  inboundPending: number[];
  window: ReplayWindowJson;
}

/** Everything needed to resume a client (Rust `Snapshot`); it holds secret keys. */
export interface Snapshot {
  version: number;
  lastId: number;
  pairings: PairingSnapshot[];
  sessions: SessionSnapshot[];
}

/** How long a proposal stands (its `expiryTimestamp`), as the official SDKs: five minutes. */
const PROPOSAL_TTL_SECS = 300;

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
    case 'wc_pairingDelete':
      return [1000, 1001, 86400, false];
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
  topic: string;
  method: string;
  deadlineMs: number;
  change?: PendingSnapshot['change'];
  /** Restored from a snapshot: nobody awaits it, its answer is emitted as `response`. */
  restored?: boolean;
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
  window: ReplayWindow;
  presence?: Presence;
  heartbeatInFlight?: boolean;
  onConnected?: (c: ConnectResult) => void;
  onFailed?: (e: Error) => void;
}

interface Pairing {
  key: Uint8Array;
  expiry: number;
  window: ReplayWindow;
  outgoing: Map<number, { privateKey: Uint8Array; resolve: (c: ConnectResult) => void; reject: (e: Error) => void }>;
  incoming: Map<number, { proposerKey: Uint8Array; request: ProposalRequest; metadata: unknown }>;
}

/** Options of a session client. */
export interface ClientOptions {
  metadata?: { name: string; description: string; url: string; icons: string[] };
  requestTimeoutMs?: number;
  sessionTtlSecs?: number;
  /** Heartbeat (`wc_sessionPing`) after this much silence from us; default 30 s (0 turns presence off). */
  heartbeatIntervalMs?: number;
  /** The peer counts as offline after this much silence; default 90 s. */
  offlineAfterMs?: number;
  /** Saves the snapshot here after every change (`resume()` reads it back). */
  store?: KeyValueStore;
  /** Key of the snapshot in `store` (default `heliograph/snapshot`). */
  storeKey?: string;
  /** Ids remembered per topic against replays (default 1024, as the Rust crate). */
  replayCapacity?: number;
}

/** Replayed ids older than a day or more than five minutes ahead are refused (the Rust defaults). */
const MAX_MESSAGE_AGE_MS = 24 * 3600 * 1000;
const MAX_CLOCK_SKEW_MS = 300_000;

/** A party (dapp or wallet) of sessions over a relay transport. */
export class SessionClient {
  private pairings = new Map<string, Pairing>();
  private sessions = new Map<string, Session>();
  private pending = new Map<number, Pending>();
  private listeners = new Map<keyof SessionEvents, ((e: never) => void)[]>();
  /** Ids of sent events: their answers (true, or an error) are not awaited. */
  private sentEvents = new Set<number>();
  private lastId = 0;
  readonly metadata: NonNullable<ClientOptions['metadata']>;
  private requestTimeoutMs: number;
  private sessionTtlSecs: number;
  private heartbeatIntervalMs: number;
  private offlineAfterMs: number;
  private replayCapacity: number;
  private store: KeyValueStore | undefined;
  private storeKey: string;
  private expiredTopics = new Set<string>();
  private saveScheduled = false;
  private saving: Promise<void> = Promise.resolve();
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(
    private transport: Transport,
    opts: ClientOptions = {},
  ) {
    this.metadata = opts.metadata ?? { name: 'heliograph', description: '', url: '', icons: [] };
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 300_000;
    this.sessionTtlSecs = opts.sessionTtlSecs ?? 7 * 24 * 3600;
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 30_000;
    this.offlineAfterMs = opts.offlineAfterMs ?? 90_000;
    this.replayCapacity = opts.replayCapacity ?? 1024;
    this.store = opts.store;
    this.storeKey = opts.storeKey ?? 'heliograph/snapshot';
    transport.onMessage = (topic, message) => {
      try {
        this.incoming(topic, message);
      } catch (e) {
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
      } finally {
        this.changed();
      }
    };
    // Expiry is checked every second; presence as often as its shortest bound needs.
    const bound = this.heartbeatIntervalMs > 0 ? Math.min(this.heartbeatIntervalMs, this.offlineAfterMs) / 4 : 1000;
    this.ticker = setInterval(() => this.tick(), Math.max(20, Math.min(1000, Math.floor(bound))));
    (this.ticker as { unref?: () => void }).unref?.();
  }

  /** Stops the client's timers (heartbeats, expiry checks) and waits for the last save. */
  async close(): Promise<void> {
    clearInterval(this.ticker);
    await this.flush();
  }

  /** Resolves once every change so far is written to the store. */
  async flush(): Promise<void> {
    if (this.saveScheduled) await new Promise((r) => setTimeout(r, 0));
    await this.saving;
  }

  /** The peer's presence on an established session (`undefined` when presence is off or the session unknown). */
  peerState(session: string): PeerState | undefined {
    return this.sessions.get(session)?.presence?.state;
  }

  /** Timers: expiry of established sessions, heartbeats, the offline bound. */
  private tick(): void {
    const now = Date.now();
    for (const [topic, s] of [...this.sessions]) {
      if (s.phase !== 'active') continue;
      if (isExpired(s.expiry)) {
        this.expire(topic);
        continue;
      }
      const p = s.presence;
      if (!p) continue;
      const change = p.check(now);
      if (change) this.emit('presence', { session: topic, state: change });
      if (p.heartbeatDue(now) && !s.heartbeatInFlight) {
        s.heartbeatInFlight = true;
        this.call(topic, s.key, 'wc_sessionPing', {}, Math.max(this.offlineAfterMs, 1000))
          .catch(() => {})
          .finally(() => (s.heartbeatInFlight = false));
      }
    }
  }

  /** Unsubscribes `handler` from `event` (as given to `on`). */
  off<K extends keyof SessionEvents>(event: K, handler: (e: SessionEvents[K]) => void): void {
    const list = this.listeners.get(event);
    if (!list) return;
    const i = list.indexOf(handler as (e: never) => void);
    if (i >= 0) list.splice(i, 1);
  }

  // ---- persistence --------------------------------------------------------------

  /** Pairings and established sessions, in the Rust crate's `Snapshot` JSON (holds secret keys). */
  snapshot(): Snapshot {
    const pairings: PairingSnapshot[] = [...this.pairings].map(([topic, p]) => ({ topic, symKey: bytesToHex(p.key), expiry: p.expiry, window: p.window.toJSON() }));
    const sessions: SessionSnapshot[] = [];
    for (const [topic, s] of this.sessions) {
      if (s.phase !== 'active') continue;
      const pendingOut: Record<string, PendingSnapshot> = {};
      for (const [id, p] of this.pending) {
        if (p.topic === topic) pendingOut[String(id)] = { method: p.method, deadlineUnixMs: p.deadlineMs, internal: p.method !== 'wc_sessionRequest', change: p.change ?? null };
      }
      sessions.push({
        topic,
        symKey: bytesToHex(s.key),
        pairing: s.pairing,
        role: s.role,
        peerMetadata: s.peerMetadata,
        namespaces: s.namespaces,
        results: s.results,
        expiry: s.expiry,
        permissions: { granted: Object.fromEntries([...s.permissions].sort(([a], [b]) => (a < b ? -1 : 1))) },
        pendingOut,
        inboundPending: [...s.inbound].sort((a, b) => a - b),
        window: s.window.toJSON(),
      });
    }
    return { version: SNAPSHOT_VERSION, lastId: this.lastId, pairings, sessions };
  }

  /**
   * Resumes from a snapshot: pairings and established sessions come back with their
   * keys, grants, replay windows and unanswered requests, and every topic is
   * subscribed again (the relay then delivers what arrived meanwhile). Presence
   * timers restart as of now. Refuses another version or a topic that is not its key's.
   */
  async restore(snap: Snapshot): Promise<void> {
    if (!snap || snap.version !== SNAPSHOT_VERSION) throw new Error(`snapshot version ${snap?.version} is not supported (expected ${SNAPSHOT_VERSION})`);
    const keyFor = (topic: string, hex: string) => {
      if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) throw new Error('snapshot key is invalid');
      const key = hexToBytes(hex);
      if (topicOf(key) !== topic) throw new Error(`snapshot topic ${topic} does not match its key`);
      return key;
    };
    const pairings = snap.pairings.map((p) => [p.topic, { key: keyFor(p.topic, p.symKey), expiry: p.expiry, window: ReplayWindow.fromJson(p.window), outgoing: new Map(), incoming: new Map() }] as const);
    const now = Date.now();
    const sessions = snap.sessions.map((s) => {
      const session: Session = {
        key: keyFor(s.topic, s.symKey),
        pairing: s.pairing,
        role: s.role === 'controller' ? 'controller' : 'proposer',
        phase: 'active',
        results: s.results ?? [],
        namespaces: s.namespaces,
        permissions: new Map(Object.entries(s.permissions?.granted ?? {})),
        expiry: s.expiry,
        peerMetadata: s.peerMetadata,
        inbound: new Set(s.inboundPending ?? []),
        window: ReplayWindow.fromJson(s.window),
        ...(this.heartbeatIntervalMs > 0 ? { presence: new Presence(this.heartbeatIntervalMs, this.offlineAfterMs, now) } : {}),
      };
      return [s.topic, session, s.pendingOut ?? {}] as const;
    });
    this.lastId = Math.max(this.lastId, snap.lastId);
    for (const [topic, p] of pairings) this.pairings.set(topic, p);
    for (const [topic, s, pendingOut] of sessions) {
      this.sessions.set(topic, s);
      for (const [id, p] of Object.entries(pendingOut)) {
        const timer = setTimeout(() => this.pending.delete(Number(id)), Math.max(0, p.deadlineUnixMs - now));
        this.pending.set(Number(id), { topic, method: p.method, deadlineMs: p.deadlineUnixMs, change: p.change ?? null, restored: true, resolve: () => {}, reject: () => {}, timer });
      }
    }
    for (const [topic] of pairings) await this.transport.subscribe(topic);
    for (const [topic] of sessions) await this.transport.subscribe(topic);
  }

  /** Restores the snapshot saved in the store, if any; resolves with the resumed session topics. */
  async resume(): Promise<string[]> {
    if (!this.store) throw new Error('resume() needs a store (ClientOptions.store)');
    const saved = await this.store.get(this.storeKey);
    if (saved === undefined) return [];
    const snap = JSON.parse(saved) as Snapshot;
    await this.restore(snap);
    return snap.sessions.map((s) => s.topic);
  }

  /** Topics of the established sessions. */
  sessionTopics(): string[] {
    return [...this.sessions].filter(([, s]) => s.phase === 'active').map(([t]) => t);
  }

  /** Schedules a save of the snapshot (after the current task, so awaited continuations have run). */
  private changed(): void {
    if (!this.store || this.saveScheduled) return;
    this.saveScheduled = true;
    setTimeout(() => {
      this.saveScheduled = false;
      const data = JSON.stringify(this.snapshot());
      const store = this.store as KeyValueStore;
      this.saving = this.saving.then(() => store.set(this.storeKey, data)).catch((e: unknown) => this.emit('error', new Error(`saving the session snapshot failed: ${String(e)}`)));
    }, 0);
  }

  /** Subscribes `handler` to `event`. */
  on<K extends keyof SessionEvents>(event: K, handler: (e: SessionEvents[K]) => void): void {
    const list = this.listeners.get(event) ?? [];
    list.push(handler as (e: never) => void);
    this.listeners.set(event, list);
  }

  private emit<K extends keyof SessionEvents>(event: K, value: SessionEvents[K]): void {
    for (const h of this.listeners.get(event) ?? []) (h as (e: SessionEvents[K]) => void)(value);
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
    this.pairings.set(topic, { key, expiry, window: new ReplayWindow(this.replayCapacity), outgoing: new Map(), incoming: new Map() });
    this.changed();
    await this.transport.subscribe(topic);
    return { uri: formatUri({ topic, symKey: key, expiry }), topic };
  }

  /** (Wallet) joins a pairing from its URI. */
  async pair(uri: string): Promise<string> {
    const p = parseUri(uri);
    const known = this.pairings.get(p.topic);
    // Pairing again with a known URI keeps the topic's replay window (a reset would reopen it to replays).
    this.pairings.set(p.topic, { key: p.symKey, expiry: p.expiry, window: known?.window ?? new ReplayWindow(this.replayCapacity), outgoing: known?.outgoing ?? new Map(), incoming: known?.incoming ?? new Map() });
    this.changed();
    await this.transport.subscribe(p.topic);
    return p.topic;
  }

  /** (Dapp) proposes a session; resolves once the wallet settled it, rejects with the wallet's reason. */
  async propose(pairing: string, request: ProposalRequest): Promise<ConnectResult> {
    const p = this.pairings.get(pairing);
    if (!p) throw new Error(`unknown pairing ${pairing}`);
    const kp = generateKeyPair();
    const id = this.nextId();
    const params = buildPropose(request, bytesToHex(kp.publicKey), this.metadata, pairing, nowSeconds() + PROPOSAL_TTL_SECS);
    const done = new Promise<ConnectResult>((resolve, reject) => {
      // The proposal lapses at its expiryTimestamp: without a settled session by then, give up.
      const timer = setTimeout(() => {
        p.outgoing.delete(id);
        reject(new RpcError(-32000, `the proposal expired: no session settled within ${PROPOSAL_TTL_SECS} s`));
      }, PROPOSAL_TTL_SECS * 1000);
      const settle = () => clearTimeout(timer);
      p.outgoing.set(id, {
        privateKey: kp.privateKey,
        resolve: (c) => (settle(), resolve(c)),
        reject: (e) => (settle(), reject(e)),
      });
    });
    await this.publish(pairing, p.key, { id, jsonrpc: '2.0', method: 'wc_sessionPropose', params }, 'wc_sessionPropose', false);
    return done;
  }

  /**
   * (Wallet) answers each item with `decide`. One denied required item refuses the
   * whole proposal with 5001/5002/5003 (user rejected chains/methods/events; the dapp
   * learns which item and why). `accounts` are CAIP-10 (`eip155:1:0x…`). Resolves when
   * the dapp acks the settle.
   */
  async approve(proposal: IncomingProposal, decide: (item: Item) => Outcome, accounts: string[]): Promise<ConnectResult> {
    const p = this.pairings.get(proposal.pairing);
    const incoming = p?.incoming.get(proposal.id);
    if (!p || !incoming) throw new Error(`no pending proposal ${proposal.id}`);
    p.incoming.delete(proposal.id);
    const results: ItemResult[] = requestItems(incoming.request).map((item) => ({ ...item, ...decide(item) }));
    const denied = results.find((r) => r.required && r.outcome === 'denied');
    if (denied && denied.outcome === 'denied') {
      const name: WcErrorName = denied.kind === 'chains' ? 'USER_REJECTED_CHAINS' : denied.kind === 'methods' ? 'USER_REJECTED_METHODS' : denied.kind === 'events' ? 'USER_REJECTED_EVENTS' : 'USER_REJECTED';
      const { code, message } = wcError(name, `required item ${denied.namespace}/${denied.kind}/${denied.value} denied: ${denied.reason}`);
      await this.respondOn(proposal.pairing, p.key, proposal.id, { error: { code, message, data: { itemResults: results } } }, 'wc_sessionPropose');
      throw new RpcError(code, message);
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
    const expiry = nowSeconds() + this.sessionTtlSecs;
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
      window: new ReplayWindow(this.replayCapacity),
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
    const settle = buildSettle(namespaces, bytesToHex(kp.publicKey), this.metadata, expiry, proposal.pairing);
    // What the dapp reads back from the wire: chains implied by the accounts included.
    s.namespaces = fromWire(settle.namespaces);
    try {
      await this.call(topic, key, 'wc_sessionSettle', settle);
    } catch (e) {
      // The dapp refused the settlement (or never answered): no session to keep.
      this.sessions.delete(topic);
      void this.transport.unsubscribe(topic).catch(() => {});
      throw e;
    }
    this.activate(s);
    const c = this.connectResult(topic, s);
    this.emit('connected', c);
    return c;
  }

  /** (Wallet) rejects a proposal as a whole; by default with 5000 "User rejected.". */
  async reject(proposal: IncomingProposal, reason: WcReason = wcError('USER_REJECTED')): Promise<void> {
    const p = this.pairings.get(proposal.pairing);
    if (!p?.incoming.delete(proposal.id)) throw new Error(`no pending proposal ${proposal.id}`);
    await this.respondOn(proposal.pairing, p.key, proposal.id, { error: { code: reason.code, message: reason.message } }, 'wc_sessionPropose');
  }

  // ---- session API --------------------------------------------------------------

  /**
   * Sends `wc_sessionRequest {request: {method, params, expiryTimestamp?}, chainId}`;
   * resolves with the result, rejects with the peer's RpcError. `expirySecs` makes the
   * request lapse (the peer answers 8000 once it has).
   */
  async request(session: string, method: string, params: unknown, chainId: string | null = null, opts: { expirySecs?: number } = {}): Promise<unknown> {
    const s = this.liveSession(session);
    const expiry = opts.expirySecs === undefined ? undefined : nowSeconds() + opts.expirySecs;
    const change: PendingSnapshot['change'] = method === 'wallet_requestPermissions' ? 'request' : method === 'wallet_revokePermissions' ? { revoke: capabilities(params) } : null;
    const value = await this.call(session, s.key, 'wc_sessionRequest', buildRequest(method, params, chainId, expiry), this.requestTimeoutMs, change);
    if (method === 'wallet_requestPermissions' && Array.isArray(value)) {
      for (const p of value as Permission[]) s.permissions.set(p.parentCapability, p);
    }
    if (method === 'wallet_revokePermissions') for (const c of capabilities(params)) s.permissions.delete(c);
    return value;
  }

  /** Emits `wc_sessionEvent {event: {name, data}, chainId}` (not awaited by the peer, as the official SDKs). */
  async emitEvent(session: string, name: string, data: unknown, chainId: string): Promise<void> {
    const s = this.liveSession(session);
    if (!grantsChain(s.namespaces, chainId)) throw new RpcError(5100, `${chainId} is not a chain of this session`);
    if (!grants(s.namespaces, 'events', name, chainId)) throw new RpcError(3002, `event ${name} is not granted on ${chainId}`);
    const id = this.nextId();
    this.sentEvents.add(id);
    if (this.sentEvents.size > 256) this.sentEvents.delete(this.sentEvents.values().next().value as number);
    await this.publish(session, s.key, { id, jsonrpc: '2.0', method: 'wc_sessionEvent', params: buildEvent(name, data, chainId) }, 'wc_sessionEvent', false);
  }

  /** (Wallet) replaces the session's namespaces (`accounts`, `chains`, `methods`, `events`); resolves once the dapp accepted. */
  async update(session: string, namespaces: Namespaces): Promise<void> {
    const s = this.liveSession(session);
    if (s.role !== 'controller') throw new RpcError(3003, 'only the wallet (controller) may update a session');
    const wire = toWcSessionNamespaces(namespaces);
    await this.call(session, s.key, 'wc_sessionUpdate', { namespaces: wire });
    s.namespaces = fromWire(wire);
    s.permissions = initialPermissions(s.namespaces, (s.peerMetadata as { url?: string } | null)?.url ?? '');
  }

  /** (Wallet) moves the expiry to `ttlSecs` from now (at most seven days); resolves with it once the dapp accepted. */
  async extend(session: string, ttlSecs: number = MAX_SESSION_TTL_SECS): Promise<number> {
    const s = this.liveSession(session);
    if (s.role !== 'controller') throw new RpcError(3004, 'only the wallet (controller) may extend a session');
    const expiry = nowSeconds() + Math.min(ttlSecs, MAX_SESSION_TTL_SECS);
    await this.call(session, s.key, 'wc_sessionExtend', { expiry });
    s.expiry = Math.max(s.expiry, expiry);
    return s.expiry;
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

  /** Pings the peer of a session; resolves on its answer. */
  async ping(session: string): Promise<void> {
    const s = this.liveSession(session);
    await this.call(session, s.key, 'wc_sessionPing', {});
  }

  /** Pings the peer of a pairing (`wc_pairingPing`); resolves on its answer. */
  async pingPairing(pairing: string): Promise<void> {
    const p = this.pairings.get(pairing);
    if (!p) throw new Error(`unknown pairing ${pairing}`);
    await this.call(pairing, p.key, 'wc_pairingPing', {});
  }

  /** Deletes a pairing (`wc_pairingDelete`, not awaited by the peer) and unsubscribes from it. */
  async deletePairing(pairing: string, reason: WcReason = wcError('USER_DISCONNECTED')): Promise<void> {
    const p = this.pairings.get(pairing);
    if (!p) return;
    this.pairings.delete(pairing);
    await this.publish(pairing, p.key, { id: this.nextId(), jsonrpc: '2.0', method: 'wc_pairingDelete', params: { code: reason.code, message: reason.message } }, 'wc_pairingDelete', false);
    await this.transport.unsubscribe(pairing).catch(() => {});
  }

  /** Ends a session with `reason` (6000 "User disconnected." by default); the peer does not answer, as WalletConnect peers. */
  async disconnect(session: string, reason: WcReason = wcError('USER_DISCONNECTED')): Promise<void> {
    const s = this.sessions.get(session);
    if (!s) return;
    this.sessions.delete(session);
    this.rejectPending(session, new RpcError(6000, 'session disconnected'));
    await this.publish(session, s.key, { id: this.nextId(), jsonrpc: '2.0', method: 'wc_sessionDelete', params: { code: reason.code, message: reason.message } }, 'wc_sessionDelete', false);
    await this.transport.unsubscribe(session).catch(() => {});
  }

  // ---- internals ----------------------------------------------------------------

  /** An established session that has not expired (an expired one is dropped and reported). */
  private liveSession(session: string): Session {
    const s = this.sessions.get(session);
    if (!s && this.expiredTopics.has(session)) throw new RpcError(7001, `session ${session} expired`);
    if (!s) throw new Error(`unknown session ${session}`);
    if (s.phase !== 'active') throw new Error(`session ${session} is not established yet`);
    if (isExpired(s.expiry)) {
      this.expire(session);
      throw new RpcError(7001, `session ${session} expired at ${s.expiry}`);
    }
    return s;
  }

  private expire(session: string): void {
    this.sessions.delete(session);
    // Remembered (bounded) so a later call on it says "expired" (7001), not "unknown".
    this.expiredTopics.add(session);
    if (this.expiredTopics.size > 256) this.expiredTopics.delete(this.expiredTopics.values().next().value as string);
    this.rejectPending(session, new RpcError(7001, 'session expired'));
    void this.transport.unsubscribe(session).catch(() => {});
    this.emit('expired', { session });
  }

  private rejectPending(topic: string, error: Error): void {
    for (const [id, p] of this.pending) {
      if (p.topic !== topic) continue;
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(error);
    }
  }

  /** Sends a request on `topic` and resolves with the peer's result (rejects with its error or on timeout). */
  private async call(topic: string, key: Uint8Array, method: string, params: unknown, timeoutMs = this.requestTimeoutMs, change: PendingSnapshot['change'] = null): Promise<unknown> {
    const id = this.nextId();
    const label = method === 'wc_sessionRequest' ? String((params as { request: { method: string } }).request.method) : method;
    const result = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(-32000, `${label}: no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { topic, method: label, deadlineMs: Date.now() + timeoutMs, change, resolve, reject, timer });
    });
    await this.publish(topic, key, { id, jsonrpc: '2.0', method, params }, method, false);
    return result;
  }

  /** Settles a pending call with a response, if `msg` answers one. */
  private answer(msg: { id: number; result?: unknown; error?: { code: number; message: string; data?: unknown } }): boolean {
    const p = this.pending.get(msg.id);
    if (!p) return false;
    this.pending.delete(msg.id);
    clearTimeout(p.timer);
    if (p.restored) {
      const s = this.sessions.get(p.topic);
      if (s && !msg.error && p.change === 'request' && Array.isArray(msg.result)) for (const g of msg.result as Permission[]) s.permissions.set(g.parentCapability, g);
      if (s && !msg.error && p.change && typeof p.change === 'object') for (const c of p.change.revoke) s.permissions.delete(c);
      const error = msg.error ? new RpcError(msg.error.code, msg.error.message, msg.error.data) : undefined;
      this.emit('response', { session: p.topic, id: msg.id, method: p.method, ...(error ? { error } : { result: msg.result }) });
      return true;
    }
    if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result);
    return true;
  }

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
    this.sessions.get(topic)?.presence?.sent(Date.now());
    this.changed();
  }

  /** A session is established: presence starts as of now. */
  private activate(s: Session): void {
    s.phase = 'active';
    if (this.heartbeatIntervalMs > 0) s.presence = new Presence(this.heartbeatIntervalMs, this.offlineAfterMs, Date.now());
  }

  private respondOn(topic: string, key: Uint8Array, id: number, body: { result: unknown } | { error: { code: number; message: string; data?: unknown } }, method: string): Promise<void> {
    return this.publish(topic, key, { id, jsonrpc: '2.0', ...body }, method, true, 'error' in body);
  }

  private checkReplay(topic: string, window: ReplayWindow, id: number): void {
    try {
      window.accept(id, Date.now(), MAX_MESSAGE_AGE_MS, MAX_CLOCK_SKEW_MS);
    } catch (e) {
      throw new Error(`${(e as Error).message} (on ${topic})`);
    }
  }

  private incoming(topic: string, message: string): void {
    const pairing = this.pairings.get(topic);
    const session = this.sessions.get(topic);
    const key = pairing?.key ?? session?.key;
    if (!key) return; // not ours
    const msg = JSON.parse(openEnvelope(key, decodeEnvelope(message))) as WireMessage;
    if (typeof msg.id !== 'number') throw new Error('message without a numeric id');
    if (pairing) return this.pairingMessage(topic, pairing, msg);
    if (session) {
      if (session.phase === 'active' && isExpired(session.expiry)) return this.expire(topic);
      const back = session.presence?.heard(Date.now());
      if (back) this.emit('presence', { session: topic, state: back });
      return this.sessionMessage(topic, session, msg);
    }
  }

  /** An answer to `msg` on `topic`; a lost answer is not actionable here (the peer times out or asks again). */
  private replier(topic: string, key: Uint8Array, msg: WireMessage): Reply {
    return (body) => {
      this.respondOn(topic, key, msg.id, body, msg.method ?? '').catch(() => {});
    };
  }

  private pairingMessage(topic: string, p: Pairing, msg: WireMessage): void {
    if (!msg.method) {
      if (this.answer(msg)) return;
      return this.proposalAnswer(topic, p, msg);
    }
    this.checkReplay(topic, p.window, msg.id);
    const reply = this.replier(topic, p.key, msg);
    switch (msg.method) {
      case 'wc_sessionPropose': {
        let parsed;
        try {
          parsed = parsePropose(msg.params);
        } catch (e) {
          if (e instanceof WcFormatError) reply({ error: e.reason });
          throw e;
        }
        const { request, proposerKey, metadata } = parsed;
        p.incoming.set(msg.id, { proposerKey: hexToBytes(proposerKey), request, metadata });
        this.emit('proposal', { pairing: topic, id: msg.id, request, proposerMetadata: metadata, items: requestItems(request) });
        return;
      }
      case 'wc_pairingPing':
        reply({ result: true });
        this.emit('pairingPing', { pairing: topic });
        return;
      case 'wc_pairingDelete': {
        const { code, message } = parseReason(msg.params);
        reply({ result: true });
        this.pairings.delete(topic);
        void this.transport.unsubscribe(topic).catch(() => {});
        this.emit('pairingDeleted', { pairing: topic, code, reason: message });
        return;
      }
      default:
        return reply({ error: unknownMethod(msg.method) });
    }
  }

  private proposalAnswer(topic: string, p: Pairing, msg: WireMessage): void {
    const out = p.outgoing.get(msg.id);
    if (!out) throw new Error(`unexpected response ${msg.id}`);
    p.outgoing.delete(msg.id);
    if (msg.error) {
      out.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
      return;
    }
    const result = msg.result as { responderPublicKey?: unknown; itemResults?: ItemResult[] };
    if (typeof result?.responderPublicKey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(result.responderPublicKey)) {
      out.reject(new RpcError(7000, 'proposal answer without a responderPublicKey'));
      return;
    }
    const responder = result.responderPublicKey.toLowerCase();
    const key = deriveSymKey(out.privateKey, hexToBytes(responder));
    const sessionTopic = topicOf(key);
    this.sessions.set(sessionTopic, {
      key,
      pairing: topic,
      role: 'proposer',
      phase: 'awaitingSettle',
      controllerKey: responder,
      results: Array.isArray(result.itemResults) ? result.itemResults : [],
      namespaces: {},
      permissions: new Map(),
      expiry: 0,
      peerMetadata: null,
      inbound: new Set(),
      window: new ReplayWindow(this.replayCapacity),
      onConnected: out.resolve,
      onFailed: out.reject,
    });
    this.transport.subscribe(sessionTopic).catch((e: Error) => out.reject(e));
  }

  private sessionMessage(topic: string, s: Session, msg: WireMessage): void {
    if (!msg.method) {
      if (this.answer(msg)) return;
      if (this.sentEvents.delete(msg.id)) {
        if (msg.error) this.emit('error', new RpcError(msg.error.code, `the peer refused event ${msg.id}: ${msg.error.message}`, msg.error.data));
        return;
      }
      throw new Error(`unexpected response ${msg.id}`);
    }
    if (s.phase === 'awaitingSettle' && msg.method !== 'wc_sessionSettle') throw new Error(`${msg.method} before the session is settled`);
    this.checkReplay(topic, s.window, msg.id);
    const reply = this.replier(topic, s.key, msg);
    try {
      this.sessionRequest(topic, s, msg.id, msg.method, msg.params, reply);
    } catch (e) {
      if (!(e instanceof WcFormatError)) throw e;
      reply({ error: e.reason });
      if (msg.method === 'wc_sessionSettle') s.onFailed?.(new RpcError(e.reason.code, e.reason.message));
      throw e;
    }
  }

  private sessionRequest(topic: string, s: Session, id: number, method: string, params: unknown, reply: Reply): void {
    switch (method) {
      case 'wc_sessionSettle': {
        if (s.phase !== 'awaitingSettle') return reply({ error: wcError('INVALID_SESSION_SETTLE_REQUEST', 'already settled') });
        const settle = parseSettle(params);
        if (settle.controllerKey !== s.controllerKey) throw new Error('settlement from another controller than the one that answered the proposal');
        s.namespaces = settle.namespaces;
        s.expiry = settle.expiry;
        s.peerMetadata = settle.metadata;
        s.permissions = initialPermissions(s.namespaces, this.metadata.url);
        this.activate(s);
        reply({ result: true });
        const c = this.connectResult(topic, s);
        s.onConnected?.(c);
        this.emit('connected', c);
        return;
      }
      case 'wc_sessionPing':
        reply({ result: true });
        this.emit('ping', { session: topic });
        return;
      case 'wc_sessionDelete': {
        const { code, message } = parseReason(params);
        this.sessions.delete(topic);
        this.rejectPending(topic, new RpcError(code, message));
        void this.transport.unsubscribe(topic).catch(() => {});
        this.emit('deleted', { session: topic, code, reason: message });
        return;
      }
      case 'wc_sessionUpdate': {
        if (s.role === 'controller') return reply({ error: wcError('UNAUTHORIZED_UPDATE_REQUEST', 'only the controller may update') });
        s.namespaces = parseUpdate(params);
        s.permissions = initialPermissions(s.namespaces, this.metadata.url);
        reply({ result: true });
        this.emit('updated', { session: topic, namespaces: s.namespaces, accounts: this.connectResult(topic, s).accounts });
        return;
      }
      case 'wc_sessionExtend': {
        if (s.role === 'controller') return reply({ error: wcError('UNAUTHORIZED_EXTEND_REQUEST', 'only the controller may extend') });
        s.expiry = parseExtend(params, s.expiry);
        reply({ result: true });
        this.emit('extended', { session: topic, expiry: s.expiry });
        return;
      }
      case 'wc_sessionEvent': {
        const ev = parseEvent(params);
        if (!grantsChain(s.namespaces, ev.chainId)) return reply({ error: wcError('UNSUPPORTED_CHAINS', ev.chainId) });
        if (!grants(s.namespaces, 'events', ev.name, ev.chainId)) return reply({ error: wcError('UNAUTHORIZED_EVENT', ev.name) });
        reply({ result: true });
        this.emit('event', { session: topic, ...ev });
        return;
      }
      case 'wc_sessionRequest':
        return this.appRequest(topic, s, id, params, reply);
      default:
        return reply({ error: unknownMethod(method) });
    }
  }

  private appRequest(topic: string, s: Session, id: number, params: unknown, reply: Reply): void {
    const { method, params: args, chainId } = parseRequest(params);
    if (s.role === 'controller') {
      if (!PERMISSION_METHODS.includes(method) && !s.permissions.has(method)) return reply({ error: wcError('UNAUTHORIZED_METHOD', method) });
      if (chainId !== null && !grantsChain(s.namespaces, chainId)) return reply({ error: wcError('UNSUPPORTED_CHAINS', chainId) });
      if (method === 'wallet_getPermissions') return reply({ result: this.permissions(topic) });
      if (method === 'wallet_revokePermissions') {
        for (const c of capabilities(args)) s.permissions.delete(c);
        return reply({ result: null });
      }
      if (method === 'wallet_requestPermissions') {
        s.inbound.add(id);
        this.emit('permissionsRequested', { session: topic, id, capabilities: capabilities(args) });
        return;
      }
    }
    if (s.inbound.size >= 32) throw new Error(`too many unanswered requests on ${topic}`);
    s.inbound.add(id);
    this.emit('request', { session: topic, id, method, params: args, chainId });
  }
}

/** A decrypted JSON-RPC message of a pairing or session topic. */
interface WireMessage {
  id: number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

type Reply = (body: { result: unknown } | { error: WcReason }) => void;

/** The answer to a method this client does not serve: 10001 for `wc_*` (spec), -32601 otherwise. */
function unknownMethod(method: string): WcReason {
  return method.startsWith('wc_') ? wcError('WC_METHOD_UNSUPPORTED', method) : { code: -32601, message: `method not found: ${method}` };
}

/** Namespaces as a peer reads them back from the wire (chains of the accounts included). */
function fromWire(wire: Record<string, { chains: string[]; accounts: string[]; methods: string[]; events: string[] }>): Namespaces {
  const out: Namespaces = {};
  for (const [ns, n] of Object.entries(wire)) out[ns] = { chains: [...n.chains], accounts: [...n.accounts], methods: [...n.methods], events: [...n.events] };
  return out;
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
