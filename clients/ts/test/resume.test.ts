// Persistence and presence against a real heliograph node: a dapp whose process
// "restarts" (new relay connection, new SessionClient, same FileStore) resumes its
// session, gets the answer to a request sent before the restart, and keeps its replay
// window; snapshots refuse tampering; presence goes offline on silence and online
// again when the peer resumes; `off()` stops a handler.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MemoryStore,
  RelayClient,
  SessionClient,
  addressOf,
  persistentSeed,
  personalSign,
  sealType0,
  type ClientOptions,
  type IncomingProposal,
  type IncomingRequest,
  type KeyValueStore,
  type PeerState,
  type Snapshot,
} from '../src/index';
import { FileStore } from '../src/node';
import { startNode, type HeliographNode } from '../../../e2e/lib/node.mjs';

let node: HeliographNode;
let dir: string;
beforeAll(async () => {
  node = await startNode({ name: 'resume-ts' });
  dir = mkdtempSync(join(tmpdir(), 'heliograph-ts-store-'));
}, 60_000);
afterAll(async () => {
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const KEY = new Uint8Array(32).fill(0x4c);
const ACCOUNT = `eip155:1:${addressOf(KEY)}`;
const REQUEST = { requiredNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'] } } };

/** A party whose relay id and snapshot live in `store`, as an app that restarts would open it. */
async function open(store: KeyValueStore, opts: ClientOptions = {}, before: (c: SessionClient) => void = () => {}) {
  const relay = await RelayClient.connect(node.relayUrl!, { seed: await persistentSeed(store), timeoutMs: 5000 });
  const client = new SessionClient(relay, { requestTimeoutMs: 10_000, store, ...opts });
  // Handlers go on before resume(): what the relay kept arrives as soon as the topics are subscribed.
  before(client);
  return { relay, client, resumed: await client.resume() };
}

async function connected(dappStore: KeyValueStore, walletStore: KeyValueStore, opts: ClientOptions = {}) {
  const dapp = await open(dappStore, { metadata: { name: 'dapp', description: '', url: 'http://127.0.0.1', icons: [] }, ...opts });
  const wallet = await open(walletStore, opts);
  const { uri, topic } = await dapp.client.createPairing();
  const proposal = new Promise<IncomingProposal>((r) => wallet.client.on('proposal', r));
  await wallet.client.pair(uri);
  const dappSide = dapp.client.propose(topic, REQUEST);
  const [w, d] = await Promise.all([wallet.client.approve(await proposal, () => ({ outcome: 'granted' }), [ACCOUNT]), dappSide]);
  return { dapp, wallet, session: d.session, w, d };
}

describe('persistence', () => {
  it('a restarted dapp resumes its session from a FileStore, gets a pending answer, keeps its replay window', async () => {
    const path = join(dir, 'dapp.json');
    const { dapp, wallet, session, d } = await connected(new FileStore(path), new MemoryStore());
    try {
      // A request is in flight when the dapp goes away.
      const request = new Promise<IncomingRequest>((r) => wallet.client.on('request', r));
      const lost = dapp.client.request(session, 'personal_sign', ['0x68690a', addressOf(KEY)], 'eip155:1');
      lost.catch(() => {});
      const req = await request;
      await dapp.client.close();
      dapp.relay.close();
      expect(statSync(path).mode & 0o777).toBe(0o600);
      const saved = JSON.parse(JSON.parse(readFileSync(path, 'utf8'))['heliograph/snapshot']) as Snapshot;
      expect(saved.version).toBe(1);
      expect(saved.sessions.map((s) => s.topic)).toEqual([session]);
      expect(Object.values(saved.sessions[0].pendingOut).map((p) => p.method)).toEqual(['personal_sign']);

      // The wallet answers while the dapp is down; the relay keeps it for the dapp's client id.
      const sig = personalSign(KEY, '0x68690a');
      await wallet.client.respond(req.session, req.id, { result: sig });

      let answered: (v: unknown) => void = () => {};
      const answer = new Promise((r) => (answered = r));
      const again = await open(new FileStore(path), { metadata: { name: 'dapp', description: '', url: 'http://127.0.0.1', icons: [] } }, (c) => c.on('response', answered));
      try {
        expect(again.relay.clientId).toBe(dapp.relay.clientId);
        expect(await answer).toMatchObject({ session, id: req.id, method: 'personal_sign', result: sig });
        expect(again.resumed).toEqual([session]);
        expect(again.client.sessionInfo(session)).toMatchObject({ accounts: [ACCOUNT], role: 'proposer', shortAuthString: d.shortAuthString });

        // Both directions still work on the resumed session.
        const next = new Promise<IncomingRequest>((r) => wallet.client.on('request', r));
        const signed = again.client.request(session, 'personal_sign', ['0x6f6b', addressOf(KEY)], 'eip155:1');
        const r2 = await next;
        await wallet.client.respond(r2.session, r2.id, { result: '0xok' });
        expect(await signed).toBe('0xok');
        const event = new Promise((r) => again.client.on('event', r));
        await wallet.client.emitEvent(session, 'accountsChanged', [ACCOUNT], 'eip155:1');
        expect(await event).toMatchObject({ session, name: 'accountsChanged' });

        // A replay of a request the dapp accepted before the restart is refused after it.
        const key = again.client.sessionKey(session);
        const stale = again.client.snapshot().sessions[0].window.seen;
        expect(stale.length).toBeGreaterThan(0);
        const pings: unknown[] = [];
        again.client.on('ping', (p) => pings.push(p));
        const error = new Promise<Error>((r) => again.client.on('error', r));
        const replayed = { id: stale[0], jsonrpc: '2.0', method: 'wc_sessionPing', params: {} };
        again.relay.onMessage(session, sealType0(key, JSON.stringify(replayed)));
        expect((await error).message).toMatch(/already received|below the replay window/);
        expect(pings).toEqual([]);
      } finally {
        await again.client.close();
        again.relay.close();
      }
    } finally {
      await wallet.client.close();
      wallet.relay.close();
    }
  }, 30_000);

  it('refuses a snapshot of another version or whose topic is not its key', async () => {
    const store = new MemoryStore();
    const { dapp, wallet } = await connected(store, new MemoryStore());
    const snap = dapp.client.snapshot();
    await Promise.all([dapp.client.close(), wallet.client.close()]);
    dapp.relay.close();
    wallet.relay.close();
    const relay = await RelayClient.connect(node.relayUrl!);
    try {
      const c = new SessionClient(relay);
      await expect(c.restore({ ...snap, version: 99 })).rejects.toThrow(/version 99 is not supported/);
      const swapped = structuredClone(snap);
      swapped.sessions[0].symKey = '11'.repeat(32);
      await expect(c.restore(swapped)).rejects.toThrow(/does not match its key/);
      expect(c.sessionTopics()).toEqual([]);
      await c.restore(snap);
      expect(c.sessionTopics()).toEqual(snap.sessions.map((s) => s.topic));
      await c.close();
    } finally {
      relay.close();
    }
  }, 30_000);
});

describe('presence and off()', () => {
  it('the peer goes offline on silence and online when it resumes; heartbeats keep it online', async () => {
    const walletStore = new MemoryStore();
    const fast = { heartbeatIntervalMs: 150, offlineAfterMs: 600 };
    const { dapp, wallet, session } = await connected(new MemoryStore(), walletStore, fast);
    const states: PeerState[] = [];
    const onPresence = (p: { session: string; state: PeerState }) => states.push(p.state);
    dapp.client.on('presence', onPresence);
    try {
      // Both sides heartbeat: a quiet second keeps the peer online.
      await new Promise((r) => setTimeout(r, 1000));
      expect(states).toEqual([]);
      expect(dapp.client.peerState(session)).toBe('online');

      await wallet.client.close();
      wallet.relay.close();
      const deadline = Date.now() + 3000;
      while (!states.includes('offline') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(states).toEqual(['offline']);
      expect(dapp.client.peerState(session)).toBe('offline');

      const back = await open(walletStore, fast);
      try {
        expect(back.resumed).toEqual([session]);
        const until = Date.now() + 3000;
        while (states.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
        expect(states).toEqual(['offline', 'online']);

        // off(): a removed handler hears nothing more.
        dapp.client.off('presence', onPresence);
        await back.client.close();
        back.relay.close();
        await new Promise((r) => setTimeout(r, 1200));
        expect(dapp.client.peerState(session)).toBe('offline');
        expect(states).toEqual(['offline', 'online']);
      } finally {
        await back.client.close();
        back.relay.close();
      }
    } finally {
      await dapp.client.close();
      dapp.relay.close();
    }
  }, 30_000);
});
