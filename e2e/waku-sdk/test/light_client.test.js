// Interop of heliograph service nodes, started on their defaults, with the
// official @waku/sdk light client on the SDK's defaults: dial, metadata,
// filter, lightpush (v3, the SDK default) and store, on every default shard.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { bytesToUtf8, utf8ToBytes, utils } from "@waku/sdk";

import {
  DEFAULTS,
  DEFAULT_SHARDS,
  assertMetadataHandshake,
  lightNodeFor,
  startNode,
  startNodes,
  stopNodes,
  waitForRelayPeers,
  withTimeout,
} from "./helpers.js";

const CONTENT_TOPIC = "/heliograph/1/e2e/proto";

function pubsubTopicOf(encoder) {
  const topic = encoder.pubsubTopic ?? encoder.routingInfo?.pubsubTopic;
  assert.match(String(topic), /^\/waku\/2\/rs\/1\/\d+$/, "the SDK autoshards the content topic in cluster 1");
  return topic;
}

/** Collects payloads (as text); `done` resolves once `count` distinct ones arrived. */
function collector(count) {
  const seen = [];
  const waiters = [];
  const distinct = () => [...new Set(seen)].sort();
  const callback = (message) => {
    seen.push(bytesToUtf8(message.payload));
    for (const w of waiters.filter((w) => distinct().length >= w.count)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(distinct());
    }
  };
  /** Resolves with the distinct payloads once there are at least `n`. */
  const atLeast = (n) =>
    distinct().length >= n ? Promise.resolve(distinct()) : new Promise((resolve) => waiters.push({ count: n, resolve }));
  return { callback, done: atLeast(count), atLeast, seen };
}

/** One content topic per default shard, found by the SDK's own autosharding function. */
function contentTopicPerShard() {
  const byShard = new Map();
  for (let i = 0; byShard.size < DEFAULTS.numShards; i++) {
    const topic = `/heliograph-shard-${i}/1/e2e/proto`;
    const shard = utils.contentTopicToShardIndex(topic, DEFAULTS.numShards);
    if (!byShard.has(shard)) byShard.set(shard, topic);
  }
  return [...byShard.entries()].sort(([a], [b]) => a - b);
}

async function storedPayloads(node, pubsubTopic, contentTopic) {
  const query = new URLSearchParams({ pubsubTopic, contentTopics: contentTopic, includeData: "true", pageSize: "50" });
  const answer = await node.restJson(`/store/v3/messages?${query}`);
  assert.equal(answer.statusCode, 200);
  return answer.messages.map((m) => Buffer.from(m.message.payload, "base64").toString("utf8"));
}

describe("heliograph on its defaults serves @waku/sdk light nodes on their defaults", () => {
  let nodes = [];
  let service;
  let relayPeer;
  const lightNodes = [];

  before(async () => {
    // Two nodes meshed over TCP (--bootstrap), so lightpush has a relay peer.
    nodes = await startNodes(2);
    [service, relayPeer] = nodes;
  });

  after(async () => {
    for (const waku of lightNodes) await waku.stop().catch(() => {});
    await stopNodes(nodes);
  });

  test("dial and metadata: js-waku decodes cluster 1 and all 8 relayed shards", { timeout: 60_000 }, async () => {
    const waku = await lightNodeFor(service);
    lightNodes.push(waku);
    assert.deepEqual(waku.networkConfig, { clusterId: DEFAULTS.clusterId, numShardsInCluster: DEFAULTS.numShards });
    await assertMetadataHandshake(waku, service, DEFAULT_SHARDS);
    // Identify lists the codecs the SDK selects peers by.
    const peer = await waku.libp2p.peerStore.get(waku.libp2p.getPeers().find((p) => p.toString() === service.peerId));
    for (const codec of [
      "/vac/waku/filter-subscribe/2.0.0-beta1",
      "/vac/waku/lightpush/3.0.0",
      "/vac/waku/store-query/3.0.0",
      "/vac/waku/metadata/1.0.0",
    ]) {
      assert.ok(peer.protocols.includes(codec), `identify lists ${codec}`);
    }
  });

  test("filter, lightpush and store round trip through one node", { timeout: 90_000 }, async () => {
    const waku = await lightNodeFor(service);
    lightNodes.push(waku);
    const encoder = waku.createEncoder({ contentTopic: CONTENT_TOPIC });
    const decoder = waku.createDecoder({ contentTopic: CONTENT_TOPIC });
    const pubsubTopic = pubsubTopicOf(encoder);
    await waitForRelayPeers(service, pubsubTopic, 1, { peerIds: [relayPeer.peerId] });

    const received = collector(3);
    const subscribed = await withTimeout(waku.filter.subscribe(decoder, received.callback), 15_000, "filter subscribe");
    assert.equal(subscribed, true, "filter subscription accepted");

    const sent = ["one", "two", "three"].map((word) => `hello ${word} ${Date.now()}`);
    for (const text of sent) {
      const result = await withTimeout(waku.lightPush.send(encoder, { payload: utf8ToBytes(text) }), 15_000, "send");
      assert.equal(result.failures.length, 0, `lightpush failures: ${JSON.stringify(result.failures)}`);
      assert.equal(result.successes.length, 1, "pushed to the one service node");
    }

    const got = await withTimeout(received.done, 20_000, "3 messages through the filter subscription");
    assert.deepEqual(got, [...sent].sort());

    const stored = [];
    await withTimeout(
      waku.store.queryWithOrderedCallback([decoder], (message) => {
        stored.push(bytesToUtf8(message.payload));
      }),
      20_000,
      "store query",
    );
    assert.deepEqual([...stored].sort(), [...sent].sort(), "store returns exactly the three messages");
    assert.equal(received.seen.length, 3, `each message pushed once: ${JSON.stringify(received.seen)}`);

    // The relay peer got them through the mesh, too (lightpush really relayed).
    assert.deepEqual((await storedPayloads(relayPeer, pubsubTopic, CONTENT_TOPIC)).sort(), [...sent].sort());
  });

  test("every default shard carries lightpush to filter, as both sides autoshard alike", { timeout: 120_000 }, async () => {
    const [sender, receiver] = [await lightNodeFor(service), await lightNodeFor(service)];
    lightNodes.push(sender, receiver);
    const topics = contentTopicPerShard();
    assert.deepEqual(
      topics.map(([shard]) => shard),
      DEFAULT_SHARDS,
    );
    const received = collector(topics.length);
    for (const [shard, contentTopic] of topics) {
      const decoder = receiver.createDecoder({ contentTopic });
      assert.equal(pubsubTopicOf(decoder), `/waku/2/rs/1/${shard}`);
      await waitForRelayPeers(service, decoder.pubsubTopic, 1, { peerIds: [relayPeer.peerId] });
      assert.equal(
        await withTimeout(receiver.filter.subscribe(decoder, received.callback), 15_000, `subscribe ${contentTopic}`),
        true,
      );
    }
    const sent = [];
    for (const [shard, contentTopic] of topics) {
      const text = `shard ${shard} ${Date.now()}`;
      sent.push(text);
      const result = await withTimeout(
        sender.lightPush.send(sender.createEncoder({ contentTopic }), { payload: utf8ToBytes(text) }),
        15_000,
        `send on shard ${shard}`,
      );
      assert.equal(result.failures.length, 0, `shard ${shard}: ${JSON.stringify(result.failures)}`);
    }
    assert.deepEqual(await withTimeout(received.done, 30_000, "one message per shard"), [...sent].sort());

    // The node's own autosharding (REST auto route) picks the SDK's shard for every topic.
    for (const [shard, contentTopic] of topics) {
      const text = `via REST autosharding, shard ${shard} ${Date.now()}`;
      sent.push(text);
      await service.restJson("/relay/v1/auto/messages", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ payload: Buffer.from(text).toString("base64"), contentTopic }),
      });
    }
    assert.deepEqual(await withTimeout(received.atLeast(sent.length), 30_000, "REST messages"), [...sent].sort());
    assert.equal(received.seen.length, sent.length, "each message pushed once");
  });

  test("a message lightpushed by client A reaches client B's filter subscription", { timeout: 90_000 }, async () => {
    const [a, b] = [await lightNodeFor(service), await lightNodeFor(service)];
    lightNodes.push(a, b);
    const contentTopic = "/heliograph/1/e2e-ab/proto";
    const encoder = a.createEncoder({ contentTopic });
    await waitForRelayPeers(service, pubsubTopicOf(encoder), 1, { peerIds: [relayPeer.peerId] });
    const received = collector(1);
    assert.equal(
      await withTimeout(b.filter.subscribe(b.createDecoder({ contentTopic }), received.callback), 15_000, "subscribe"),
      true,
    );
    const text = `from A to B ${Date.now()}`;
    const result = await withTimeout(a.lightPush.send(encoder, { payload: utf8ToBytes(text) }), 15_000, "send");
    assert.equal(result.failures.length, 0, `lightpush failures: ${JSON.stringify(result.failures)}`);
    assert.deepEqual(await withTimeout(received.done, 20_000, "B receives A's message"), [text]);
  });

  test("lightpush without relay peers fails instead of succeeding silently", { timeout: 90_000 }, async () => {
    const lonely = await startNode({ name: "lonely" });
    try {
      const waku = await lightNodeFor(lonely);
      lightNodes.push(waku);
      await assertMetadataHandshake(waku, lonely);
      const encoder = waku.createEncoder({ contentTopic: CONTENT_TOPIC });
      const result = await withTimeout(
        waku.lightPush.send(encoder, { payload: utf8ToBytes("nobody listens") }, { autoRetry: false }),
        30_000,
        "send without relay peers",
      );
      assert.equal(result.successes.length, 0, "no success without relay peers");
      assert.ok(result.failures.length >= 1, "the failure is reported");
      // The node answered with an error status (505), not a dropped stream.
      assert.equal(result.failures[0].error, "Remote peer rejected", JSON.stringify(result.failures));
    } finally {
      await lonely.stop();
    }
  });
});
