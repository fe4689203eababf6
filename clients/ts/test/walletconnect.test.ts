// The WalletConnect JSON mapping on its own: what goes out has every field the Sign
// spec names, what the official SDKs send is accepted, bad fields get the spec's codes.
import { describe, expect, it } from 'vitest';
import {
  MAX_SESSION_TTL_SECS,
  WC_ERRORS,
  WcFormatError,
  buildPropose,
  buildRequest,
  buildSettle,
  fromWcProposalNamespaces,
  fromWcSessionNamespaces,
  parseEvent,
  parseExtend,
  parsePropose,
  parseReason,
  parseRequest,
  parseSettle,
  parseUpdate,
  toWcProposalNamespaces,
  wcError,
  wcErrorName,
} from '../src/index';

const NOW = 1_800_000_000;
const KEY = 'ab'.repeat(32);
const META = { name: 'm', description: '', url: 'https://m.example', icons: [] };
const ACCOUNT = 'eip155:1:0x1111111111111111111111111111111111111111';

function codeOf(f: () => unknown): number {
  try {
    f();
  } catch (e) {
    if (e instanceof WcFormatError) return e.reason.code;
    throw e;
  }
  throw new Error('no error');
}

describe('error codes', () => {
  it('are the spec list', () => {
    expect(wcError('USER_REJECTED')).toEqual({ code: 5000, message: 'User rejected.' });
    expect(wcError('USER_DISCONNECTED')).toEqual({ code: 6000, message: 'User disconnected.' });
    expect(wcError('UNSUPPORTED_CHAINS', 'eip155:5')).toEqual({ code: 5100, message: 'Unsupported chains. eip155:5' });
    const codes = Object.values(WC_ERRORS).map((e) => e.code);
    expect(codes).toEqual([1001, 1002, 1003, 1004, 1005, 3001, 3002, 3003, 3004, 3005, 4001, 5000, 5001, 5002, 5003, 5100, 5101, 5102, 5103, 5104, 6000, 7000, 7001, 8000, 10001]);
    expect(wcErrorName(5103)).toBe('UNSUPPORTED_ACCOUNTS');
    expect(wcErrorName(4242)).toBeUndefined();
  });
});

describe('proposal namespaces', () => {
  it('always carry chains, methods and events arrays', () => {
    expect(toWcProposalNamespaces({ eip155: { chains: ['eip155:1'], methods: ['personal_sign'] } })).toEqual({
      eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: [] },
    });
    const p = buildPropose({ requiredNamespaces: { eip155: { chains: ['eip155:1'] } } }, KEY, META, 'c'.repeat(64), NOW + 300);
    const inherit = buildPropose({ requiredNamespaces: { eip155: { chains: ['eip155:1'] } }, optionalNamespaces: { eip155: { methods: ['m'] } } }, KEY, META, 'c'.repeat(64), NOW);
    expect(inherit.optionalNamespaces).toEqual({ eip155: { chains: ['eip155:1'], methods: ['m'], events: [] } });
    expect(codeOf(() => buildPropose({ requiredNamespaces: {}, optionalNamespaces: { eip155: { methods: ['m'] } } }, KEY, META, 'c'.repeat(64), NOW))).toBe(5100);
    expect(codeOf(() => buildPropose({ requiredNamespaces: { eip155: { methods: ['m'] } } }, KEY, META, 'c'.repeat(64), NOW))).toBe(5100);
    expect(p).toEqual({
      requiredNamespaces: { eip155: { chains: ['eip155:1'], methods: [], events: [] } },
      optionalNamespaces: {},
      relays: [{ protocol: 'irn' }],
      proposer: { publicKey: KEY, metadata: META },
      expiryTimestamp: NOW + 300,
      pairingTopic: 'c'.repeat(64),
    });
  });

  it('accept CAIP-2 keys, missing events, and merge into the namespace', () => {
    expect(
      fromWcProposalNamespaces({ 'eip155:1': { methods: ['personal_sign'] }, eip155: { chains: ['eip155:137'], methods: ['eth_sign'], events: ['chainChanged'] } }, 'optionalNamespaces'),
    ).toEqual({ eip155: { chains: ['eip155:1', 'eip155:137'], methods: ['personal_sign', 'eth_sign'], events: ['chainChanged'] } });
    expect(fromWcProposalNamespaces(undefined, 'requiredNamespaces')).toEqual({});
  });

  it('refuse what the spec forbids, with its codes', () => {
    expect(fromWcProposalNamespaces({ eip155: { methods: ['m'] } }, 'x')).toEqual({ eip155: { chains: [], methods: ['m'], events: [] } });
    expect(codeOf(() => fromWcProposalNamespaces({ eip155: { chains: ['cosmos:hub'], methods: [], events: [] } }, 'x'))).toBe(5100);
    expect(codeOf(() => fromWcProposalNamespaces({ eip155: { chains: ['eip155:1'], methods: 'personal_sign', events: [] } }, 'x'))).toBe(5101);
    expect(codeOf(() => fromWcProposalNamespaces({ eip155: { chains: ['eip155:1'], methods: [], events: [7] } }, 'x'))).toBe(5102);
    expect(codeOf(() => fromWcProposalNamespaces({ 'EIP 155': { chains: [] } }, 'x'))).toBe(5104);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`ns${String(i).padStart(3, '0')}`, { chains: [`ns${String(i).padStart(3, '0')}:1`] }]));
    expect(codeOf(() => fromWcProposalNamespaces(many, 'x'))).toBe(5104);
    expect(codeOf(() => fromWcProposalNamespaces({ eip155: { chains: Array(257).fill('eip155:1') } }, 'x'))).toBe(5100);
  });

  it('parse the proposal an official 2.25 dapp sends (requiredNamespaces empty)', () => {
    const params = {
      requiredNamespaces: {},
      optionalNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'] } },
      relays: [{ protocol: 'irn' }],
      proposer: { publicKey: KEY.toUpperCase(), metadata: META },
      expiryTimestamp: NOW + 300,
      pairingTopic: 'c'.repeat(64),
      id: 1,
    };
    const parsed = parsePropose(params, NOW);
    expect(parsed.proposerKey).toBe(KEY);
    expect(parsed.request).toEqual({ requiredNamespaces: {}, optionalNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'] } } });
    expect(codeOf(() => parsePropose({ ...params, expiryTimestamp: NOW - 3600 }, NOW))).toBe(1001);
    expect(codeOf(() => parsePropose({ ...params, proposer: { publicKey: 'zz' } }, NOW))).toBe(1001);
  });
});

describe('session namespaces', () => {
  it('settle carries accounts, methods, events, chains, relay, controller, expiry', () => {
    const settle = buildSettle({ eip155: { accounts: [ACCOUNT], methods: ['personal_sign'] } }, KEY, META, NOW + 10, 'c'.repeat(64));
    expect(settle).toEqual({
      relay: { protocol: 'irn' },
      namespaces: { eip155: { chains: ['eip155:1'], accounts: [ACCOUNT], methods: ['personal_sign'], events: [] } },
      controller: { publicKey: KEY, metadata: META },
      expiry: NOW + 10,
      pairingTopic: 'c'.repeat(64),
    });
    expect(parseSettle(settle, NOW)).toEqual({
      namespaces: { eip155: { chains: ['eip155:1'], accounts: [ACCOUNT], methods: ['personal_sign'], events: [] } },
      controllerKey: KEY,
      metadata: META,
      expiry: NOW + 10,
    });
  });

  it('settle: the official wallet leaves chains out; bad accounts, expiries and missing arrays are refused', () => {
    const official = { relay: { protocol: 'irn' }, namespaces: { eip155: { accounts: [ACCOUNT], methods: ['personal_sign'], events: ['accountsChanged'] } }, controller: { publicKey: KEY, metadata: META }, expiry: NOW + MAX_SESSION_TTL_SECS };
    expect(parseSettle(official, NOW).namespaces.eip155.chains).toEqual(['eip155:1']);
    expect(codeOf(() => parseSettle({ ...official, expiry: NOW - 1 }, NOW))).toBe(1005);
    expect(codeOf(() => parseSettle({ ...official, expiry: NOW + MAX_SESSION_TTL_SECS + 3600 }, NOW))).toBe(1005);
    expect(codeOf(() => parseSettle({ ...official, relay: undefined }, NOW))).toBe(1005);
    expect(codeOf(() => parseSettle({ ...official, namespaces: { eip155: { accounts: ['0xabc'], methods: [], events: [] } } }, NOW))).toBe(5103);
    expect(codeOf(() => parseSettle({ ...official, namespaces: { eip155: { accounts: [ACCOUNT], methods: [] } } }, NOW))).toBe(5102);
    expect(codeOf(() => parseSettle({ ...official, namespaces: { eip155: { accounts: [ACCOUNT], events: [] } } }, NOW))).toBe(5101);
    expect(codeOf(() => parseSettle({ ...official, namespaces: { eip155: { methods: [], events: [] } } }, NOW))).toBe(5103);
    expect(codeOf(() => parseSettle({ ...official, namespaces: { eip155: { accounts: ['solana:x:abc'], methods: [], events: [] } } }, NOW))).toBe(5103);
  });

  it('update: CAIP-2 keys fold into the namespace; empty namespaces are invalid (1003)', () => {
    expect(fromWcSessionNamespaces({ 'eip155:10': { accounts: ['eip155:10:0xab'], methods: [], events: ['chainChanged'] } }, 'n', 'INVALID_UPDATE_REQUEST')).toEqual({
      eip155: { chains: ['eip155:10'], accounts: ['eip155:10:0xab'], methods: [], events: ['chainChanged'] },
    });
    expect(codeOf(() => parseUpdate({ namespaces: {} }))).toBe(1003);
    expect(codeOf(() => parseUpdate(null))).toBe(1003);
  });
});

describe('extend, request, event, delete', () => {
  it('extend: {} (official SDKs) means seven days from now; a given expiry must not shorten nor pass seven days', () => {
    expect(parseExtend({}, NOW + 100, NOW)).toBe(NOW + MAX_SESSION_TTL_SECS);
    expect(parseExtend({ expiry: NOW + 1000 }, NOW + 100, NOW)).toBe(NOW + 1000);
    expect(codeOf(() => parseExtend({ expiry: NOW + 50 }, NOW + 100, NOW))).toBe(1004);
    expect(codeOf(() => parseExtend({ expiry: NOW + 30 * 86400 }, NOW + 100, NOW))).toBe(1004);
    expect(codeOf(() => parseExtend({ expiry: 'soon' }, NOW + 100, NOW))).toBe(1004);
  });

  it('request: method, params, chainId, expiryTimestamp; expired → 8000', () => {
    const wire = buildRequest('personal_sign', ['0x68', '0xab'], 'eip155:1', NOW + 60);
    expect(wire).toEqual({ request: { method: 'personal_sign', params: ['0x68', '0xab'], expiryTimestamp: NOW + 60 }, chainId: 'eip155:1' });
    expect(parseRequest(wire, NOW)).toEqual({ method: 'personal_sign', params: ['0x68', '0xab'], chainId: 'eip155:1', expiryTimestamp: NOW + 60 });
    expect(codeOf(() => parseRequest(wire, NOW + 61))).toBe(8000);
    expect(codeOf(() => parseRequest({ request: {} }, NOW))).toBe(1001);
    expect(codeOf(() => parseRequest({ request: { method: 'x' }, chainId: 'one' }, NOW))).toBe(5100);
    expect(parseRequest({ request: { method: 'x' } }, NOW)).toEqual({ method: 'x', params: null, chainId: null, expiryTimestamp: null });
  });

  it('event: name, data, chainId', () => {
    expect(parseEvent({ event: { name: 'accountsChanged', data: ['0xab'] }, chainId: 'eip155:1' })).toEqual({ name: 'accountsChanged', data: ['0xab'], chainId: 'eip155:1' });
    expect(codeOf(() => parseEvent({ event: { data: 1 }, chainId: 'eip155:1' }))).toBe(1002);
    expect(codeOf(() => parseEvent({ event: { name: 'x' } }))).toBe(5100);
  });

  it('delete reasons: as sent, or 6000 when missing', () => {
    expect(parseReason({ code: 6000, message: 'User disconnected.' })).toEqual({ code: 6000, message: 'User disconnected.' });
    expect(parseReason({})).toEqual({ code: 6000, message: 'User disconnected.' });
    expect(parseReason({ code: 5000, message: 'x'.repeat(5000) }).message).toHaveLength(1024);
  });
});
