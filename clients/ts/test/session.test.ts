// SessionClient against a real heliograph node (its WalletConnect-relay bridge):
// per-item answers, atomic refusal naming the denied required item, authorisation of
// requests by method and chain, EIP-2255 permissions, signaling methods gated by the grant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RelayClient,
  RpcError,
  SessionClient,
  SIGNALING_METHODS,
  addressOf,
  bytesToHex,
  decodeEnvelope,
  deriveSymKey,
  generateKeyPair,
  hexToBytes,
  openEnvelope,
  parseUri,
  personalSign,
  recoverAddress,
  sealType0,
  topicOf,
  type IncomingProposal,
  type Outcome,
} from '../src/index';
import { startNode, type RunningNode } from './node';

let node: RunningNode;
beforeAll(async () => {
  node = await startNode();
}, 40_000);
afterAll(async () => {
  await node?.stop();
});

const KEY = new Uint8Array(32).fill(0x4c);
const ACCOUNT = `eip155:1:${addressOf(KEY)}`;

async function parties(sessionTtlSecs?: number) {
  const dappRelay = await RelayClient.connect(node.relayUrl);
  const walletRelay = await RelayClient.connect(node.relayUrl);
  const dapp = new SessionClient(dappRelay, { metadata: { name: 'dapp', description: '', url: 'http://127.0.0.1', icons: [] }, requestTimeoutMs: 10_000 });
  const wallet = new SessionClient(walletRelay, { metadata: { name: 'wallet', description: '', url: '', icons: [] }, requestTimeoutMs: 10_000, sessionTtlSecs });
  const close = () => {
    dappRelay.close();
    walletRelay.close();
  };
  return { dapp, wallet, close };
}

const REQUEST = {
  requiredNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'] } },
  optionalNamespaces: { eip155: { methods: ['eth_signTypedData_v4', ...SIGNALING_METHODS], events: ['accountsChanged'] } },
};

async function connect(decide: (value: string) => Outcome, sessionTtlSecs?: number) {
  const p = await parties(sessionTtlSecs);
  const { uri, topic } = await p.dapp.createPairing();
  const proposal = new Promise<IncomingProposal>((r) => p.wallet.on('proposal', r));
  await p.wallet.pair(uri);
  const dappSide = p.dapp.propose(topic, REQUEST);
  const prop = await proposal;
  return { ...p, prop, dappSide, approve: () => p.wallet.approve(prop, (item) => decide(item.value), [ACCOUNT]) };
}

describe('SessionClient over a real node', () => {
  it('connects with per-item results, signs, and authorises by method and chain', async () => {
    const c = await connect((v) => (v === 'eth_signTypedData_v4' ? { outcome: 'denied', reason: 'not today' } : { outcome: 'granted' }));
    try {
      expect(c.prop.items.map((i) => `${i.kind}/${i.value}/${i.required}`)).toEqual([
        'chains/eip155:1/true',
        'methods/personal_sign/true',
        'chains/eip155:1/false',
        'events/accountsChanged/false',
        'methods/eth_signTypedData_v4/false',
        ...SIGNALING_METHODS.map((m) => `methods/${m}/false`),
      ]);
      const [walletSide, dappSide] = await Promise.all([c.approve(), c.dappSide]);
      expect(dappSide.session).toBe(walletSide.session);
      expect(dappSide.accounts).toEqual([ACCOUNT]);
      expect(dappSide.shortAuthString).toMatch(/^\d{6}$/);
      expect(dappSide.shortAuthString).toBe(walletSide.shortAuthString);
      expect(dappSide.results.find((r) => r.value === 'eth_signTypedData_v4')).toMatchObject({ outcome: 'denied', reason: 'not today', required: false });
      expect(dappSide.permissions.map((p) => p.parentCapability)).toContain('personal_sign');
      expect(dappSide.permissions.map((p) => p.parentCapability)).not.toContain('eth_signTypedData_v4');

      c.wallet.on('request', (r) => {
        // The relay acks the answer's publish after storing it; the test may close the relay before
        // that ack, once the dapp has the answer: the outcome that counts is asserted on the dapp side.
        if (r.method === 'personal_sign') c.wallet.respond(r.session, r.id, { result: personalSign(KEY, (r.params as string[])[0]) }).catch(() => {});
      });
      const session = dappSide.session;
      const sig = (await c.dapp.request(session, 'personal_sign', ['hello', addressOf(KEY)], 'eip155:1')) as string;
      expect(recoverAddress('hello', sig)).toBe(addressOf(KEY));
      await expect(c.dapp.request(session, 'eth_signTypedData_v4', [], 'eip155:1')).rejects.toMatchObject({ code: 3001 });
      await expect(c.dapp.request(session, 'personal_sign', ['x', addressOf(KEY)], 'eip155:137')).rejects.toMatchObject({ code: 5100 });

      // EIP-2255: the wallet grants a new capability on request; the dapp's view follows.
      c.wallet.on('permissionsRequested', (r) => void c.wallet.grantPermissions(r.session, r.id, r.capabilities));
      await c.dapp.request(session, 'wallet_requestPermissions', [{ eth_signTypedData_v4: {} }]);
      expect(c.dapp.permissions(session).map((p) => p.parentCapability)).toContain('eth_signTypedData_v4');
      const listed = (await c.dapp.request(session, 'wallet_getPermissions', [])) as { parentCapability: string }[];
      expect(listed.map((p) => p.parentCapability)).toContain('eth_signTypedData_v4');
      await c.dapp.request(session, 'wallet_revokePermissions', [{ eth_signTypedData_v4: {} }]);
      await expect(c.dapp.request(session, 'eth_signTypedData_v4', [], 'eip155:1')).rejects.toMatchObject({ code: 3001 });
    } finally {
      c.close();
    }
  }, 30_000);

  it('a denied required item refuses the whole proposal and names the item', async () => {
    const c = await connect((v) => (v === 'personal_sign' ? { outcome: 'denied', reason: 'no signing' } : { outcome: 'granted' }));
    // Observe the dapp's outcome now: it may settle while the wallet side is still awaited.
    const dappOutcome = c.dappSide.then(
      () => null,
      (e: unknown) => e,
    );
    try {
      await expect(c.approve()).rejects.toThrow(/required item eip155\/methods\/personal_sign denied: no signing/);
      const err = await dappOutcome;
      expect(err).toBeInstanceOf(RpcError);
      expect((err as RpcError).code).toBe(5002); // user rejected methods
      expect((err as RpcError).message).toContain('eip155/methods/personal_sign');
      expect(((err as RpcError).data as { itemResults: unknown[] }).itemResults).toHaveLength(2 + 3 + SIGNALING_METHODS.length);
    } finally {
      c.close();
    }
  }, 30_000);

  it('signaling methods the wallet did not grant are refused (3001) before the wallet sees them', async () => {
    const c = await connect((v) => (v.startsWith('wrtc_') ? { outcome: 'denied', reason: 'no calls' } : { outcome: 'granted' }));
    try {
      const [, d] = await Promise.all([c.approve(), c.dappSide]);
      let seen = 0;
      c.wallet.on('request', () => (seen += 1));
      await expect(c.dapp.request(d.session, 'wrtc_offer', { callId: 'c', sdp: '', fingerprint: '' })).rejects.toMatchObject({ code: 3001 });
      expect(seen).toBe(0);
    } finally {
      c.close();
    }
  }, 30_000);
});

describe('session lifecycle', () => {
  it('event, update, extend, session and pairing ping, disconnect, pairing delete: exact values on both sides', async () => {
    const c = await connect(() => ({ outcome: 'granted' }));
    try {
      const [w, d] = await Promise.all([c.approve(), c.dappSide]);
      expect(d.namespaces).toEqual({
        eip155: { chains: ['eip155:1'], accounts: [ACCOUNT], methods: ['personal_sign', 'eth_signTypedData_v4', ...SIGNALING_METHODS], events: ['accountsChanged'] },
      });
      expect(w.namespaces).toEqual(d.namespaces);
      expect(d.expiry).toBe(w.expiry);

      const event = new Promise((r) => c.dapp.on('event', r));
      await c.wallet.emitEvent(w.session, 'accountsChanged', [addressOf(KEY)], 'eip155:1');
      expect(await event).toEqual({ session: d.session, name: 'accountsChanged', data: [addressOf(KEY)], chainId: 'eip155:1' });
      await expect(c.wallet.emitEvent(w.session, 'chainChanged', 1, 'eip155:1')).rejects.toMatchObject({ code: 3002 });
      await expect(c.wallet.emitEvent(w.session, 'accountsChanged', [], 'eip155:5')).rejects.toMatchObject({ code: 5100 });

      const second = `eip155:10:${addressOf(KEY)}`;
      const updated = new Promise((r) => c.dapp.on('updated', r));
      await c.wallet.update(w.session, { eip155: { accounts: [ACCOUNT, second], methods: ['personal_sign'], events: ['accountsChanged'] } });
      expect(await updated).toEqual({
        session: d.session,
        namespaces: { eip155: { chains: ['eip155:1', 'eip155:10'], accounts: [ACCOUNT, second], methods: ['personal_sign'], events: ['accountsChanged'] } },
        accounts: [ACCOUNT, second],
      });
      expect(c.dapp.sessionInfo(d.session)?.accounts).toEqual([ACCOUNT, second]);
      await expect(c.dapp.update(d.session, {})).rejects.toMatchObject({ code: 3003 });

      const extended = new Promise<{ expiry: number }>((r) => c.dapp.on('extended', r));
      const expiry = await c.wallet.extend(w.session);
      expect(expiry).toBeGreaterThanOrEqual(w.expiry);
      expect((await extended).expiry).toBe(expiry);
      expect(c.dapp.sessionInfo(d.session)?.expiry).toBe(expiry);
      await expect(c.dapp.extend(d.session)).rejects.toMatchObject({ code: 3004 });

      const pinged = new Promise((r) => c.wallet.on('ping', r));
      await c.dapp.ping(d.session);
      expect(await pinged).toEqual({ session: w.session });
      await c.wallet.ping(w.session);
      const pairingPinged = new Promise((r) => c.wallet.on('pairingPing', r));
      await c.dapp.pingPairing(d.pairing);
      expect(await pairingPinged).toEqual({ pairing: w.pairing });

      const deleted = new Promise((r) => c.wallet.on('deleted', r));
      await c.dapp.disconnect(d.session);
      expect(await deleted).toEqual({ session: w.session, code: 6000, reason: 'User disconnected.' });
      expect(c.wallet.sessionInfo(w.session)).toBeUndefined();
      await expect(c.dapp.request(d.session, 'personal_sign', [], 'eip155:1')).rejects.toThrow(/unknown session/);

      const pairingDeleted = new Promise((r) => c.wallet.on('pairingDeleted', r));
      await c.dapp.deletePairing(d.pairing);
      expect(await pairingDeleted).toEqual({ pairing: w.pairing, code: 6000, reason: 'User disconnected.' });
      await expect(c.wallet.pingPairing(w.pairing)).rejects.toThrow(/unknown pairing/);
    } finally {
      c.close();
    }
  }, 30_000);

  it('a session past its expiry is dropped on both sides (7001) and reported', async () => {
    const c = await connect(() => ({ outcome: 'granted' }), 2);
    try {
      const [w, d] = await Promise.all([c.approve(), c.dappSide]);
      expect(d.expiry).toBe(w.expiry);
      const expired = new Promise((r) => c.dapp.on('expired', r));
      await new Promise((r) => setTimeout(r, (w.expiry + 1) * 1000 - Date.now()));
      await expect(c.dapp.request(d.session, 'personal_sign', [], 'eip155:1')).rejects.toMatchObject({ code: 7001 });
      expect(await expired).toEqual({ session: d.session });
      await expect(c.wallet.emitEvent(w.session, 'accountsChanged', [], 'eip155:1')).rejects.toMatchObject({ code: 7001 });
      expect(c.dapp.sessionInfo(d.session)).toBeUndefined();
    } finally {
      c.close();
    }
  }, 30_000);

  it('reject: the dapp gets 5000 User rejected.', async () => {
    const c = await connect(() => ({ outcome: 'granted' }));
    const outcome = c.dappSide.then(
      () => null,
      (e: unknown) => e,
    );
    try {
      await c.wallet.reject(c.prop);
      expect(await outcome).toMatchObject({ code: 5000, message: 'User rejected.' });
    } finally {
      c.close();
    }
  }, 30_000);
});

describe('bad WalletConnect JSON from a peer', () => {
  it('a settle whose namespaces lack `events` is answered 5102 and fails the proposal with it', async () => {
    const dappRelay = await RelayClient.connect(node.relayUrl);
    const rawRelay = await RelayClient.connect(node.relayUrl);
    try {
      const dapp = new SessionClient(dappRelay, { requestTimeoutMs: 10_000 });
      // A hand-written wallet: answers the proposal, then settles without `events`.
      const inbox: { topic: string; msg: { id: number; method?: string; params?: Record<string, unknown>; error?: { code: number } } }[] = [];
      const keys = new Map<string, Uint8Array>();
      let wake = () => {};
      rawRelay.onMessage = (topic, message) => {
        inbox.push({ topic, msg: JSON.parse(openEnvelope(keys.get(topic)!, decodeEnvelope(message))) });
        wake();
      };
      const take = async () => {
        while (inbox.length === 0) await new Promise<void>((r) => (wake = r));
        return inbox.shift()!;
      };
      const send = (topic: string, body: object, tag: number) => rawRelay.publish(topic, sealType0(keys.get(topic)!, JSON.stringify({ jsonrpc: '2.0', ...body })), { ttl: 300, tag });

      const { uri, topic: pairing } = await dapp.createPairing();
      const p = parseUri(uri);
      keys.set(pairing, p.symKey);
      await rawRelay.subscribe(pairing);
      const outcome = dapp.propose(pairing, REQUEST).then(
        () => null,
        (e: unknown) => e,
      );
      const proposal = await take();
      expect(proposal.msg.method).toBe('wc_sessionPropose');
      const kp = generateKeyPair();
      const proposer = (proposal.msg.params!.proposer as { publicKey: string }).publicKey;
      const sessionKey = deriveSymKey(kp.privateKey, hexToBytes(proposer));
      const session = topicOf(sessionKey);
      keys.set(session, sessionKey);
      await rawRelay.subscribe(session);
      await send(pairing, { id: proposal.msg.id, result: { relay: { protocol: 'irn' }, responderPublicKey: bytesToHex(kp.publicKey) } }, 1101);
      const settleId = Date.now() * 1000;
      const namespaces = { eip155: { accounts: [ACCOUNT], methods: ['personal_sign'] } };
      await send(session, { id: settleId, method: 'wc_sessionSettle', params: { relay: { protocol: 'irn' }, namespaces, controller: { publicKey: bytesToHex(kp.publicKey), metadata: null }, expiry: Math.floor(Date.now() / 1000) + 3600 } }, 1102);

      const answer = await take();
      expect(answer.msg).toMatchObject({ id: settleId, error: { code: 5102 } });
      const err = await outcome;
      expect(err).toBeInstanceOf(RpcError);
      expect(err).toMatchObject({ code: 5102, message: 'Unsupported events. namespaces.eip155.events must be an array of strings' });
    } finally {
      dappRelay.close();
      rawRelay.close();
    }
  }, 30_000);
});

describe('RelayClient reconnect', () => {
  it('after a dropped socket it resubscribes and receives what was published meanwhile', async () => {
    const c = await connect(() => ({ outcome: 'granted' }));
    try {
      const [, d] = await Promise.all([c.approve(), c.dappSide]);
      const walletRelay = (c.wallet as unknown as { transport: RelayClient }).transport;
      const statuses: string[] = [];
      walletRelay.onStatus = (s) => statuses.push(s);
      const got = new Promise<unknown>((resolve) => c.wallet.on('request', (r) => resolve(r.params)));
      // As above: the answer's own publish ack may outlive the test; the dapp side asserts the outcome.
      c.wallet.on('request', (r) => c.wallet.respond(r.session, r.id, { result: personalSign(KEY, (r.params as string[])[0]) }).catch(() => {}));
      walletRelay.dropConnection();
      // Published while the wallet is away: the node keeps it and pushes it after the resubscribe.
      const answer = c.dapp.request(d.session, 'personal_sign', ['while you were away', addressOf(KEY)], 'eip155:1');
      expect(await got).toEqual(['while you were away', addressOf(KEY)]);
      expect(recoverAddress('while you were away', (await answer) as string)).toBe(addressOf(KEY));
      expect(statuses).toEqual(['reconnecting', 'connected']);
    } finally {
      c.close();
    }
  }, 30_000);
});
