// WakuClient against real heliograph nodes started as a user does (e2e/lib/node.mjs):
// subscribe → publish → push with exact bytes and ns timestamp, history paging,
// unsubscribe, info, and bridge tokens on a node that requires them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeError, RelayClient, WakuClient, type ReceivedMessage } from '../src/index';
import { startNode, type HeliographNode } from '../../../e2e/lib/node.mjs';

let node: HeliographNode;
let locked: HeliographNode;
beforeAll(async () => {
  [node, locked] = await Promise.all([startNode({ name: 'waku-ts' }), startNode({ name: 'waku-ts-token', args: ['--bridge-require-token'] })]);
}, 60_000);
afterAll(async () => {
  await Promise.all([node?.stop(), locked?.stop()]);
});

const TOPIC = '/heliograph-ts/1/waku-test/proto';

describe('WakuClient', () => {
  it('subscribes, publishes, receives exact bytes, pages history, unsubscribes', async () => {
    const sub = await WakuClient.connect(node.relayUrl!);
    const pub = await WakuClient.connect(node.relayUrl!);
    try {
      const got: ReceivedMessage[] = [];
      const id = await sub.subscribe([TOPIC], (m) => got.push(m));
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      // Now, in ns plus odd digits (> 2^53: must survive exactly); the store refuses far-off timestamps.
      const ts = BigInt(Date.now()) * 1_000_000n + 123_457n;
      const sent = [];
      for (let i = 0; i < 3; i++) {
        sent.push(await pub.publish({ payload: new Uint8Array([i, 0xff, 0x00, i]), contentTopic: TOPIC, timestamp: ts + BigInt(i), meta: new Uint8Array([9]) }));
      }
      expect(sent[0].hash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(sent[0].relayPeers).toBe(0);
      const deadline = Date.now() + 5000;
      while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(got.map((m) => m.hash)).toEqual(sent.map((s) => s.hash));
      expect([...got[2].message.payload]).toEqual([2, 0xff, 0, 2]);
      expect(got[1].message.timestamp).toBe(ts + 1n);
      expect([...(got[0].message.meta ?? [])]).toEqual([9]);
      expect(got[0].pubsubTopic).toMatch(/^\/waku\/2\/rs\/1\/\d$/);

      const first = await pub.history({ contentTopics: [TOPIC], pageSize: 2 });
      expect(first.messages.map((m) => m.hash)).toEqual(sent.slice(0, 2).map((s) => s.hash));
      expect(first.cursor).toMatch(/^0x[0-9a-f]{64}$/);
      const all = [];
      for await (const m of pub.historyAll({ contentTopics: [TOPIC], pageSize: 2 })) all.push(m.hash);
      expect(all).toEqual(sent.map((s) => s.hash));
      const newest = await pub.history({ contentTopics: [TOPIC], pageSize: 1, ascending: false, startTime: ts + 1n });
      expect(newest.messages.map((m) => m.message.timestamp)).toEqual([ts + 2n]);

      expect(await sub.unsubscribe(id)).toBe(true);
      expect(await sub.unsubscribe(id)).toBe(false);
      await pub.publish({ payload: new Uint8Array([7]), contentTopic: TOPIC });
      await new Promise((r) => setTimeout(r, 300));
      expect(got).toHaveLength(3);

      const info = await pub.info();
      expect(info.peerId).toBe(node.peerId);
      expect(info.store).toBe(true);
      await expect(pub.history({ contentTopics: ['not a topic'] })).rejects.toMatchObject({ name: 'BridgeError', code: -32602 });
    } finally {
      sub.close();
      pub.close();
    }
  }, 30_000);

  it('passes a bridge token: refused without one, served with one', async () => {
    await expect(WakuClient.connect(locked.relayUrl!)).rejects.toBeInstanceOf(BridgeError);
    const { token } = await locked.restJson('/bridge/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ttlSeconds: 60 }) });
    expect(token).toMatch(/^hgt_/);
    const c = await WakuClient.connect(locked.relayUrl!, { token });
    try {
      expect((await c.info()).peerId).toBe(locked.peerId);
    } finally {
      c.close();
    }
    await expect(WakuClient.connect(locked.relayUrl!, { token: 'hgt_not-a-token' })).rejects.toBeInstanceOf(BridgeError);
  }, 30_000);

  it('hears bridge_tokenExpiring, re-authenticates on the open socket and keeps its subscription; without it the socket closes', async () => {
    const mint = (ttlSeconds: number, subject: string) =>
      locked.restJson('/bridge/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ttlSeconds, subject }) });
    const first = await mint(3, 'ts-rotator');
    const rotating = await WakuClient.connect(locked.relayUrl!, { token: first.token });
    const expiring = new Promise<number>((resolve) => (rotating.onTokenExpiring = resolve));
    const idle = await WakuClient.connect(locked.relayUrl!, { token: (await mint(3, 'ts-idle')).token });
    const closed = new Promise<[number, string]>((resolve) => (idle.onClose = (code, reason) => resolve([code, reason])));
    try {
      const got: number[] = [];
      await rotating.subscribe([TOPIC + '-rotation'], (m) => got.push(m.message.payload[0]));
      expect(await expiring).toBe(first.expiresAt);
      const fresh = await mint(60, 'ts-rotator');
      const grant = await rotating.authenticate(fresh.token);
      expect(grant).toEqual({ expiresAt: fresh.expiresAt, subject: 'token:ts-rotator' });
      await expect(rotating.authenticate((await mint(60, 'someone-else')).token)).rejects.toMatchObject({ code: -32001 });
      // Past the first token's expiry the socket still serves and pushes.
      while (Date.now() / 1000 < first.expiresAt + 1.5) await new Promise((r) => setTimeout(r, 100));
      await rotating.publish({ payload: new Uint8Array([42]), contentTopic: TOPIC + '-rotation' });
      const deadline = Date.now() + 5000;
      while (got.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(got).toEqual([42]);
      const [code, reason] = await closed;
      expect(code).toBe(1008);
      expect(reason).toMatch(/^bridge token expired/);
    } finally {
      rotating.close();
      idle.close();
    }
  }, 30_000);

  it('RelayClient re-authenticates on bridge_tokenExpiring and stays connected past the first expiry', async () => {
    const mint = (ttlSeconds: number) =>
      locked.restJson('/bridge/v1/tokens', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ttlSeconds, subject: 'ts-relay' }) });
    const first = await mint(3);
    const relay = await RelayClient.connect(locked.relayUrl!, { token: first.token, reconnect: false });
    const expiring = new Promise<number>((resolve) => (relay.onTokenExpiring = resolve));
    let closed: number | undefined;
    relay.onClose = (code) => (closed = code);
    try {
      expect(await expiring).toBe(first.expiresAt);
      const fresh = await mint(60);
      expect(await relay.authenticate(fresh.token)).toEqual({ expiresAt: fresh.expiresAt, subject: 'token:ts-relay' });
      while (Date.now() / 1000 < first.expiresAt + 1.5) await new Promise((r) => setTimeout(r, 100));
      await relay.subscribe('ab'.repeat(32));
      expect(relay.connected).toBe(true);
      expect(closed).toBeUndefined();
    } finally {
      relay.close();
    }
  }, 30_000);
});
