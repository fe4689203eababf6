/**
 * The one place where the client's session types meet WalletConnect Sign v2 JSON:
 * `wc_sessionPropose`, `wc_sessionSettle`, `wc_sessionUpdate`, `wc_sessionExtend`,
 * `wc_sessionRequest`, `wc_sessionEvent`, `wc_sessionDelete`, `wc_pairingDelete`,
 * the spec's error codes and expiry rules.
 *
 * Outgoing JSON is what the spec names and the official SDKs produce: proposal
 * namespaces always carry `chains`, `methods` and `events` arrays, session namespaces
 * `accounts`, `methods`, `events` (and `chains`). Incoming JSON is accepted as the
 * official SDKs send it (CAIP-2 keyed namespaces such as `"eip155:1": {...}`,
 * `wc_sessionExtend` without `expiry`, missing `events`) and checked field by field:
 * a bad field is a {@link WcFormatError} carrying the spec's code for it.
 */
import type { Namespaces, ProposalRequest } from './session.js';

/** Error codes of the Sign spec (specs.walletconnect.com, "Error codes"), by name. */
export const WC_ERRORS = {
  INVALID_METHOD: { code: 1001, message: 'Invalid method.' },
  INVALID_EVENT: { code: 1002, message: 'Invalid event.' },
  INVALID_UPDATE_REQUEST: { code: 1003, message: 'Invalid update request.' },
  INVALID_EXTEND_REQUEST: { code: 1004, message: 'Invalid extend request.' },
  INVALID_SESSION_SETTLE_REQUEST: { code: 1005, message: 'Invalid session settle request.' },
  UNAUTHORIZED_METHOD: { code: 3001, message: 'Unauthorized method.' },
  UNAUTHORIZED_EVENT: { code: 3002, message: 'Unauthorized event.' },
  UNAUTHORIZED_UPDATE_REQUEST: { code: 3003, message: 'Unauthorized update request.' },
  UNAUTHORIZED_EXTEND_REQUEST: { code: 3004, message: 'Unauthorized extend request.' },
  UNAUTHORIZED_CHAIN: { code: 3005, message: 'Unauthorized chain.' },
  USER_REJECTED_REQUEST: { code: 4001, message: 'User rejected the request.' },
  USER_REJECTED: { code: 5000, message: 'User rejected.' },
  USER_REJECTED_CHAINS: { code: 5001, message: 'User rejected chains.' },
  USER_REJECTED_METHODS: { code: 5002, message: 'User rejected methods.' },
  USER_REJECTED_EVENTS: { code: 5003, message: 'User rejected events.' },
  UNSUPPORTED_CHAINS: { code: 5100, message: 'Unsupported chains.' },
  UNSUPPORTED_METHODS: { code: 5101, message: 'Unsupported methods.' },
  UNSUPPORTED_EVENTS: { code: 5102, message: 'Unsupported events.' },
  UNSUPPORTED_ACCOUNTS: { code: 5103, message: 'Unsupported accounts.' },
  UNSUPPORTED_NAMESPACE_KEY: { code: 5104, message: 'Unsupported namespace key.' },
  USER_DISCONNECTED: { code: 6000, message: 'User disconnected.' },
  SESSION_SETTLEMENT_FAILED: { code: 7000, message: 'Session settlement failed.' },
  NO_SESSION_FOR_TOPIC: { code: 7001, message: 'No session for topic.' },
  SESSION_REQUEST_EXPIRED: { code: 8000, message: 'Session request expired.' },
  WC_METHOD_UNSUPPORTED: { code: 10001, message: 'Unsupported wc_ method.' },
} as const;

/** A name of {@link WC_ERRORS}. */
export type WcErrorName = keyof typeof WC_ERRORS;

/** An error or a reason as it travels in `error` objects and delete params. */
export interface WcReason {
  code: number;
  message: string;
  data?: unknown;
}

/** The spec's reason for `name`; `detail` is appended to the message ("Unsupported chains. eip155:5"). */
export function wcError(name: WcErrorName, detail?: string): WcReason {
  const { code, message } = WC_ERRORS[name];
  return { code, message: detail ? `${message} ${detail}` : message };
}

/** The spec's name of a code, if it has one. */
export function wcErrorName(code: number): WcErrorName | undefined {
  return (Object.keys(WC_ERRORS) as WcErrorName[]).find((k) => WC_ERRORS[k].code === code);
}

/** Incoming WalletConnect JSON that breaks the spec; `reason` is what to answer with. */
export class WcFormatError extends Error {
  override name = 'WcFormatError';
  constructor(readonly reason: WcReason) {
    super(reason.message);
  }
}

/** A namespace of a proposal as on the wire. */
export interface WcProposalNamespace {
  chains: string[];
  methods: string[];
  events: string[];
}

/** A namespace of a session as on the wire. */
export interface WcSessionNamespace {
  chains: string[];
  accounts: string[];
  methods: string[];
  events: string[];
}

/** Longest session a peer may settle or extend to: seven days (the SDKs' `SESSION_EXPIRY`). */
export const MAX_SESSION_TTL_SECS = 7 * 24 * 3600;
/** Clock difference tolerated between peers when checking an expiry. */
export const CLOCK_SKEW_SECS = 300;
/** Bounds on what a peer may send: namespaces per message, items per kind, characters per item. */
export const LIMITS = { namespaces: 32, items: 256, itemLength: 256 } as const;

/** Whether `expiry` (unix seconds) has passed at `nowSecs`. */
export function isExpired(expiry: number, nowSecs: number = nowSeconds()): boolean {
  return expiry <= nowSecs;
}

/** The current unix time in seconds. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

const NAMESPACE_RE = /^[-a-z0-9]{3,8}$/;
const CHAIN_RE = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/;
const ACCOUNT_RE = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}:[-.%a-zA-Z0-9]{1,128}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(name: WcErrorName, detail: string): never {
  throw new WcFormatError(wcError(name, detail));
}

function strings(v: unknown, what: string, name: WcErrorName, optional: boolean): string[] {
  if (v === undefined && optional) return [];
  if (!Array.isArray(v)) fail(name, `${what} must be an array of strings`);
  if (v.length > LIMITS.items) fail(name, `${what} has ${v.length} items, at most ${LIMITS.items}`);
  for (const s of v) {
    if (typeof s !== 'string' || s.length === 0 || s.length > LIMITS.itemLength) fail(name, `${what} has an item that is not a string of 1 to ${LIMITS.itemLength} characters`);
  }
  return [...new Set(v as string[])];
}

function checkKey(key: string): void {
  if (!NAMESPACE_RE.test(key) && !CHAIN_RE.test(key)) fail('UNSUPPORTED_NAMESPACE_KEY', `\`${key}\` is neither a namespace nor a CAIP-2 chain`);
}

function namespaceOf(key: string): string {
  return key.split(':')[0];
}

function merge(into: Namespaces, ns: string, kind: string, values: string[]): void {
  const target = ((into[ns] ??= {})[kind] ??= []);
  for (const v of values) if (!target.includes(v)) target.push(v);
}

/** Our namespaces as proposal namespaces: `chains`, `methods`, `events` always present. */
export function toWcProposalNamespaces(ns: Namespaces): Record<string, WcProposalNamespace> {
  const out: Record<string, WcProposalNamespace> = {};
  for (const [key, n] of Object.entries(ns)) out[key] = { chains: n.chains ?? [], methods: n.methods ?? [], events: n.events ?? [] };
  return out;
}

/**
 * Proposal namespaces from the wire. CAIP-2 keys (`"eip155:1": {methods, events}`)
 * become `eip155` with that chain; `events` may be missing (older SDKs), `methods` too,
 * and so may `chains` (the official SDKs refuse a namespace that names no chain; we
 * read it as asking for no chain of its own).
 */
export function fromWcProposalNamespaces(json: unknown, field: string): Namespaces {
  if (json === undefined || json === null) return {};
  if (!isObject(json)) fail('UNSUPPORTED_NAMESPACE_KEY', `${field} must be an object`);
  const keys = Object.keys(json);
  if (keys.length > LIMITS.namespaces) fail('UNSUPPORTED_NAMESPACE_KEY', `${field} has ${keys.length} namespaces, at most ${LIMITS.namespaces}`);
  const out: Namespaces = {};
  for (const key of keys) {
    checkKey(key);
    const n = json[key];
    if (!isObject(n)) fail('UNSUPPORTED_NAMESPACE_KEY', `${field}.${key} must be an object`);
    const chains = strings(n.chains, `${field}.${key}.chains`, 'UNSUPPORTED_CHAINS', true);
    if (key.includes(':')) chains.push(key);
    const ns = namespaceOf(key);
    for (const c of chains) if (!CHAIN_RE.test(c) || namespaceOf(c) !== ns) fail('UNSUPPORTED_CHAINS', `${c} is not a CAIP-2 chain of ${ns}`);
    merge(out, ns, 'chains', chains);
    merge(out, ns, 'methods', strings(n.methods, `${field}.${key}.methods`, 'UNSUPPORTED_METHODS', true));
    merge(out, ns, 'events', strings(n.events, `${field}.${key}.events`, 'UNSUPPORTED_EVENTS', true));
  }
  return out;
}

/** The chains of an account list (`eip155:1:0xab…` → `eip155:1`), in order, once each. */
export function accountChains(accounts: string[]): string[] {
  return [...new Set(accounts.map((a) => a.split(':').slice(0, 2).join(':')))];
}

/** Our namespaces as session namespaces: `accounts`, `methods`, `events` and `chains` always present. */
export function toWcSessionNamespaces(ns: Namespaces): Record<string, WcSessionNamespace> {
  const out: Record<string, WcSessionNamespace> = {};
  for (const [key, n] of Object.entries(ns)) {
    const accounts = n.accounts ?? [];
    const chains = [...new Set([...(n.chains ?? []), ...accountChains(accounts)])];
    out[key] = { chains, accounts, methods: n.methods ?? [], events: n.events ?? [] };
  }
  return out;
}

/**
 * Session namespaces from the wire (settle, update): `accounts` (CAIP-10), `methods`
 * and `events` must be arrays as the spec says; `chains` may be left out and then
 * follows from the accounts; CAIP-2 keys fold into their namespace.
 */
export function fromWcSessionNamespaces(json: unknown, field: string, invalid: WcErrorName): Namespaces {
  if (!isObject(json) || Object.keys(json).length === 0) fail(invalid, `${field} must be a non-empty object`);
  const keys = Object.keys(json);
  if (keys.length > LIMITS.namespaces) fail(invalid, `${field} has ${keys.length} namespaces, at most ${LIMITS.namespaces}`);
  const out: Namespaces = {};
  for (const key of keys) {
    checkKey(key);
    const n = json[key];
    if (!isObject(n)) fail(invalid, `${field}.${key} must be an object`);
    const ns = namespaceOf(key);
    const accounts = strings(n.accounts, `${field}.${key}.accounts`, 'UNSUPPORTED_ACCOUNTS', false);
    for (const a of accounts) if (!ACCOUNT_RE.test(a) || namespaceOf(a) !== ns) fail('UNSUPPORTED_ACCOUNTS', `${a} is not a CAIP-10 account of ${ns}`);
    const chains = strings(n.chains, `${field}.${key}.chains`, 'UNSUPPORTED_CHAINS', true);
    for (const c of chains) if (!CHAIN_RE.test(c) || namespaceOf(c) !== ns) fail('UNSUPPORTED_CHAINS', `${c} is not a CAIP-2 chain of ${ns}`);
    if (key.includes(':')) chains.push(key);
    merge(out, ns, 'chains', [...chains, ...accountChains(accounts)]);
    merge(out, ns, 'accounts', accounts);
    merge(out, ns, 'methods', strings(n.methods, `${field}.${key}.methods`, 'UNSUPPORTED_METHODS', false));
    merge(out, ns, 'events', strings(n.events, `${field}.${key}.events`, 'UNSUPPORTED_EVENTS', false));
  }
  return out;
}

/** App metadata as WalletConnect carries it. */
export interface WcMetadata {
  name: string;
  description: string;
  url: string;
  icons: string[];
}

/** `wc_sessionPropose` params. */
export interface WcProposeParams {
  requiredNamespaces: Record<string, WcProposalNamespace>;
  optionalNamespaces: Record<string, WcProposalNamespace>;
  relays: { protocol: string }[];
  proposer: { publicKey: string; metadata: WcMetadata };
  expiryTimestamp: number;
  pairingTopic: string;
}

/**
 * Builds `wc_sessionPropose` params. Official wallets refuse a namespace that names no
 * chain, so an optional namespace without `chains` takes those of the required namespace
 * of the same name; with none there either, this throws instead of sending what would be refused.
 */
export function buildPropose(request: ProposalRequest, publicKeyHex: string, metadata: WcMetadata, pairingTopic: string, expiryTimestamp: number): WcProposeParams {
  const optional: Namespaces = {};
  for (const [key, n] of Object.entries(request.optionalNamespaces ?? {})) {
    const chains = n.chains?.length ? n.chains : key.includes(':') ? [] : (request.requiredNamespaces[key]?.chains ?? []);
    if (chains.length === 0 && !key.includes(':')) throw new WcFormatError(wcError('UNSUPPORTED_CHAINS', `optionalNamespaces.${key} names no chain`));
    optional[key] = { ...n, chains };
  }
  for (const [key, n] of Object.entries(request.requiredNamespaces)) {
    if (!n.chains?.length && !key.includes(':')) throw new WcFormatError(wcError('UNSUPPORTED_CHAINS', `requiredNamespaces.${key} names no chain`));
  }
  return {
    requiredNamespaces: toWcProposalNamespaces(request.requiredNamespaces),
    optionalNamespaces: toWcProposalNamespaces(optional),
    relays: [{ protocol: 'irn' }],
    proposer: { publicKey: publicKeyHex, metadata },
    expiryTimestamp,
    pairingTopic,
  };
}

/** A parsed `wc_sessionPropose`. */
export interface ParsedPropose {
  request: ProposalRequest;
  proposerKey: string;
  metadata: unknown;
  expiryTimestamp: number | null;
}

function publicKeyOf(v: unknown, what: string, invalid: WcErrorName): string {
  const key = isObject(v) ? v.publicKey : undefined;
  if (typeof key !== 'string' || !/^[0-9a-fA-F]{64}$/.test(key)) fail(invalid, `${what}.publicKey must be 64 hex characters`);
  return key.toLowerCase();
}

/** Reads `wc_sessionPropose` params; an expired proposal is refused (`nowSecs` = the time now). */
export function parsePropose(params: unknown, nowSecs: number = nowSeconds()): ParsedPropose {
  if (!isObject(params)) fail('INVALID_METHOD', 'wc_sessionPropose params must be an object');
  const proposerKey = publicKeyOf(params.proposer, 'proposer', 'INVALID_METHOD');
  const request: ProposalRequest = {
    requiredNamespaces: fromWcProposalNamespaces(params.requiredNamespaces, 'requiredNamespaces'),
    optionalNamespaces: fromWcProposalNamespaces(params.optionalNamespaces, 'optionalNamespaces'),
  };
  const expiry = params.expiryTimestamp;
  if (expiry !== undefined && (typeof expiry !== 'number' || !Number.isSafeInteger(expiry))) fail('INVALID_METHOD', 'expiryTimestamp must be unix seconds');
  if (typeof expiry === 'number' && isExpired(expiry + CLOCK_SKEW_SECS, nowSecs)) fail('INVALID_METHOD', `the proposal expired at ${expiry}`);
  return { request, proposerKey, metadata: (params.proposer as Record<string, unknown>).metadata ?? null, expiryTimestamp: typeof expiry === 'number' ? expiry : null };
}

/** `wc_sessionSettle` params. */
export interface WcSettleParams {
  relay: { protocol: string };
  namespaces: Record<string, WcSessionNamespace>;
  controller: { publicKey: string; metadata: WcMetadata };
  expiry: number;
  pairingTopic: string;
}

/** Builds `wc_sessionSettle` params. */
export function buildSettle(namespaces: Namespaces, controllerKeyHex: string, metadata: WcMetadata, expiry: number, pairingTopic: string): WcSettleParams {
  return { relay: { protocol: 'irn' }, namespaces: toWcSessionNamespaces(namespaces), controller: { publicKey: controllerKeyHex, metadata }, expiry, pairingTopic };
}

/** A parsed `wc_sessionSettle`. */
export interface ParsedSettle {
  namespaces: Namespaces;
  controllerKey: string;
  metadata: unknown;
  expiry: number;
}

function checkExpiry(expiry: unknown, nowSecs: number, invalid: WcErrorName): number {
  if (typeof expiry !== 'number' || !Number.isSafeInteger(expiry)) fail(invalid, 'expiry must be unix seconds');
  if (isExpired(expiry, nowSecs)) fail(invalid, `expiry ${expiry} has passed`);
  if (expiry > nowSecs + MAX_SESSION_TTL_SECS + CLOCK_SKEW_SECS) fail(invalid, `expiry ${expiry} is more than seven days away`);
  return expiry;
}

/** Reads `wc_sessionSettle` params: relay, controller key, namespaces, an expiry within seven days. */
export function parseSettle(params: unknown, nowSecs: number = nowSeconds()): ParsedSettle {
  if (!isObject(params)) fail('INVALID_SESSION_SETTLE_REQUEST', 'params must be an object');
  if (!isObject(params.relay) || typeof params.relay.protocol !== 'string') fail('INVALID_SESSION_SETTLE_REQUEST', 'relay.protocol must be a string');
  const controllerKey = publicKeyOf(params.controller, 'controller', 'INVALID_SESSION_SETTLE_REQUEST');
  const namespaces = fromWcSessionNamespaces(params.namespaces, 'namespaces', 'INVALID_SESSION_SETTLE_REQUEST');
  const expiry = checkExpiry(params.expiry, nowSecs, 'INVALID_SESSION_SETTLE_REQUEST');
  return { namespaces, controllerKey, metadata: (params.controller as Record<string, unknown>).metadata ?? null, expiry };
}

/** Reads `wc_sessionUpdate` params. */
export function parseUpdate(params: unknown): Namespaces {
  if (!isObject(params)) fail('INVALID_UPDATE_REQUEST', 'params must be an object');
  return fromWcSessionNamespaces(params.namespaces, 'namespaces', 'INVALID_UPDATE_REQUEST');
}

/**
 * The new expiry of a `wc_sessionExtend`. The official SDKs send `{}` and each side
 * sets seven days from now; a given `expiry` must not shorten the session nor pass seven days.
 */
export function parseExtend(params: unknown, current: number, nowSecs: number = nowSeconds()): number {
  if (!isObject(params)) fail('INVALID_EXTEND_REQUEST', 'params must be an object');
  if (params.expiry === undefined) return nowSecs + MAX_SESSION_TTL_SECS;
  const expiry = checkExpiry(params.expiry, nowSecs, 'INVALID_EXTEND_REQUEST');
  if (expiry < current) fail('INVALID_EXTEND_REQUEST', `expiry ${expiry} is before the current ${current}`);
  return expiry;
}

/** A parsed `wc_sessionRequest`. */
export interface ParsedRequest {
  method: string;
  params: unknown;
  chainId: string | null;
  expiryTimestamp: number | null;
}

/** Builds `wc_sessionRequest` params; `expiryTimestamp` (unix seconds) when the request should lapse. */
export function buildRequest(method: string, params: unknown, chainId: string | null, expiryTimestamp?: number): Record<string, unknown> {
  const request: Record<string, unknown> = { method, params };
  if (expiryTimestamp !== undefined) request.expiryTimestamp = expiryTimestamp;
  return { request, chainId };
}

/** Reads `wc_sessionRequest` params; an expired request is refused with 8000. */
export function parseRequest(params: unknown, nowSecs: number = nowSeconds()): ParsedRequest {
  if (!isObject(params) || !isObject(params.request)) fail('INVALID_METHOD', 'params.request must be an object');
  const { method, expiryTimestamp } = params.request;
  if (typeof method !== 'string' || method.length === 0 || method.length > LIMITS.itemLength) fail('INVALID_METHOD', 'request.method must be a string');
  if (params.chainId !== undefined && params.chainId !== null && (typeof params.chainId !== 'string' || !CHAIN_RE.test(params.chainId))) fail('UNSUPPORTED_CHAINS', 'chainId must be a CAIP-2 chain');
  if (expiryTimestamp !== undefined && (typeof expiryTimestamp !== 'number' || !Number.isSafeInteger(expiryTimestamp))) fail('INVALID_METHOD', 'request.expiryTimestamp must be unix seconds');
  if (typeof expiryTimestamp === 'number' && isExpired(expiryTimestamp, nowSecs)) fail('SESSION_REQUEST_EXPIRED', `at ${expiryTimestamp}`);
  return {
    method,
    params: params.request.params ?? null,
    chainId: typeof params.chainId === 'string' ? params.chainId : null,
    expiryTimestamp: typeof expiryTimestamp === 'number' ? expiryTimestamp : null,
  };
}

/** A parsed `wc_sessionEvent`. */
export interface ParsedEvent {
  name: string;
  data: unknown;
  chainId: string;
}

/** Builds `wc_sessionEvent` params. */
export function buildEvent(name: string, data: unknown, chainId: string): Record<string, unknown> {
  return { event: { name, data }, chainId };
}

/** Reads `wc_sessionEvent` params. */
export function parseEvent(params: unknown): ParsedEvent {
  if (!isObject(params) || !isObject(params.event)) fail('INVALID_EVENT', 'params.event must be an object');
  const { name, data } = params.event;
  if (typeof name !== 'string' || name.length === 0 || name.length > LIMITS.itemLength) fail('INVALID_EVENT', 'event.name must be a string');
  if (typeof params.chainId !== 'string' || !CHAIN_RE.test(params.chainId)) fail('UNSUPPORTED_CHAINS', 'chainId must be a CAIP-2 chain');
  return { name, data: data ?? null, chainId: params.chainId };
}

/** Reads the reason of `wc_sessionDelete` / `wc_pairingDelete` (`{code, message}`); a missing one reads as 6000. */
export function parseReason(params: unknown): WcReason {
  if (!isObject(params) || typeof params.code !== 'number') return wcError('USER_DISCONNECTED');
  const message = typeof params.message === 'string' ? params.message.slice(0, 1024) : '';
  return { code: params.code, message };
}

/** Whether namespaces grant `chain` (in `chains` or through an account). */
export function grantsChain(ns: Namespaces, chain: string): boolean {
  const n = ns[namespaceOf(chain)];
  return !!n && ((n.chains ?? []).includes(chain) || accountChains(n.accounts ?? []).includes(chain));
}

/** Whether namespaces grant `kind` item `value` in the namespace of `chain` (or in any, without a chain). */
export function grants(ns: Namespaces, kind: string, value: string, chain: string | null): boolean {
  const spaces = chain ? [ns[namespaceOf(chain)]].filter(Boolean) : Object.values(ns);
  return spaces.some((n) => (n[kind] ?? []).includes(value));
}
