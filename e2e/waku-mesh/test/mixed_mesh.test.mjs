// Mixed meshes: a js-waku relay peer and js-waku light nodes with one and with
// two meshed heliograph nodes (started on their defaults), on the default
// shards and on the named pubsub topic /waku/2/default-waku/proto (the node
// relays it when given `--pubsub-topic`). With two nodes the relay peer dials
// the first and the light node the second, so every message crosses the
// heliograph mesh. Messages flow both ways, each delivered exactly once, and
// the store returns exactly what was sent.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { utf8ToBytes } from "@waku/sdk";
import { createDecoder, createEncoder } from "waku-sdk-relay";

import { DEFAULTS, DEFAULT_WAKU_TOPIC, startNodes, stopNodes, waitForRelayPeers, withTimeout } from "../../lib/node.mjs";
import {
  assertExactly,
  assertMetadata,
  inbox,
  legacyStoreQuery,
  lightNodeFor,
  namedTopicLightNodeFor,
  relayPeerFor,
  stopAll,
  waitForJsMesh,
} from "./peers.mjs";

const CONTENT_TOPIC = "/heliograph/1/mixed-mesh/proto";

function batch(from, n) {
  const stamp = Date.now();
  return Array.from({ length: n }, (_, i) => `${from} #${i} ${stamp}`);
}

/** Exactly `payloads` for `contentTopic` in `node`'s store, by the REST store route. */
async function assertStored(node, pubsubTopic, payloads) {
  const query = new URLSearchParams({ pubsubTopic, contentTopics: CONTENT_TOPIC, includeData: "true", pageSize: "100" });
  const answer = await node.restJson(`/store/v3/messages?${query}`);
  assert.equal(answer.statusCode, 200);
  const stored = answer.messages.map((m) => Buffer.from(m.message.payload, "base64").toString("utf8"));
  assert.deepEqual(stored.sort(), [...payloads].sort(), `${node.name} stored each message once`);
}

for (const nodeCount of [1, 2]) {
  describe(`default shards, ${nodeCount} heliograph node(s): js relay peer and @waku/sdk 0.0.36 light node`, () => {
    let nodes = [];
    let relay;
    let light;
    let pubsubTopic;
    const toLight = inbox();
    const toRelay = inbox();
    const fromRelay = batch("js relay", 3);
    const fromLight = batch("light node", 3);

    before(async () => {
      nodes = await startNodes(nodeCount, { name: "mesh" });
      const [first, last] = [nodes[0], nodes.at(-1)];
      relay = await relayPeerFor(first);
      light = await lightNodeFor(last);
      pubsubTopic = light.createEncoder({ contentTopic: CONTENT_TOPIC }).routingInfo.pubsubTopic;
      // Both js-waku generations autoshard the content topic onto the same default shard.
      assert.equal(createEncoder({ contentTopic: CONTENT_TOPIC }).pubsubTopic, pubsubTopic);
      assert.match(pubsubTopic, new RegExp(`^/waku/2/rs/${DEFAULTS.clusterId}/[0-${DEFAULTS.numShards - 1}]$`));
      const metadata = { clusterId: DEFAULTS.clusterId, shards: [...Array(DEFAULTS.numShards).keys()] };
      await assertMetadata(relay, first, metadata);
      await assertMetadata(light, last, metadata);
      await waitForRelayPeers(first, pubsubTopic, 1, { peerIds: [relay.libp2p.peerId.toString()] });
      await waitForJsMesh(relay, pubsubTopic, first.peerId);
      relay.relay.subscribe([createDecoder(CONTENT_TOPIC)], toRelay.callback);
      const decoder = light.createDecoder({ contentTopic: CONTENT_TOPIC });
      assert.equal(await withTimeout(light.filter.subscribe(decoder, toLight.callback), 15_000, "filter subscribe"), true);
    });

    after(async () => {
      await stopAll([light, relay]);
      await stopNodes(nodes);
    });

    test("js relay → heliograph → light node's filter", { timeout: 60_000 }, async () => {
      const encoder = createEncoder({ contentTopic: CONTENT_TOPIC });
      for (const text of fromRelay) {
        const result = await relay.relay.send(encoder, { payload: utf8ToBytes(text) });
        assert.deepEqual(result.failures, []);
        assert.deepEqual(result.successes.map(String), [nodes[0].peerId], "published to the heliograph node");
      }
      await toLight.received(fromRelay, "the light node's filter gets the relay peer's messages");
      await assertExactly(toLight, fromRelay, "light node");
    });

    test("light node lightpush → heliograph → js relay peer", { timeout: 60_000 }, async () => {
      const encoder = light.createEncoder({ contentTopic: CONTENT_TOPIC });
      for (const text of fromLight) {
        const result = await withTimeout(light.lightPush.send(encoder, { payload: utf8ToBytes(text) }), 15_000, "lightpush");
        assert.deepEqual(result.failures, [], "lightpush v3 accepted");
        assert.equal(result.successes.length, 1);
      }
      await toRelay.received(fromLight, "the relay peer gets the light node's messages");
      await assertExactly(toRelay, fromLight, "relay peer");
      // The light node's own subscription sees them too, once.
      await assertExactly(toLight, [...fromRelay, ...fromLight], "light node");
    });

    test("store: the light node and every heliograph node return exactly the six", { timeout: 60_000 }, async () => {
      const stored = [];
      await withTimeout(
        light.store.queryWithOrderedCallback([light.createDecoder({ contentTopic: CONTENT_TOPIC })], (m) => {
          stored.push(Buffer.from(m.payload).toString("utf8"));
        }),
        20_000,
        "store query",
      );
      assert.deepEqual(stored.sort(), [...fromRelay, ...fromLight].sort());
      for (const node of nodes) await assertStored(node, pubsubTopic, [...fromRelay, ...fromLight]);
    });
  });

  describe(`named topic ${DEFAULT_WAKU_TOPIC}, ${nodeCount} heliograph node(s): js relay peer and light node`, () => {
    const pubsubTopic = DEFAULT_WAKU_TOPIC;
    let nodes = [];
    let relay;
    let light;
    const toLight = inbox();
    const toRelay = inbox();
    const fromRelay = batch("js relay", 3);
    const fromLight = batch("light node", 3);
    const decoder = createDecoder(CONTENT_TOPIC, pubsubTopic);
    const encoder = createEncoder({ contentTopic: CONTENT_TOPIC, pubsubTopic });

    before(async () => {
      nodes = await startNodes(nodeCount, { name: "named", args: ["--pubsub-topic", pubsubTopic] });
      const [first, last] = [nodes[0], nodes.at(-1)];
      relay = await relayPeerFor(first, { pubsubTopic });
      light = await namedTopicLightNodeFor(last, pubsubTopic);
      await waitForRelayPeers(first, pubsubTopic, 1, { peerIds: [relay.libp2p.peerId.toString()] });
      await waitForJsMesh(relay, pubsubTopic, first.peerId);
      relay.relay.subscribe([decoder], toRelay.callback);
      const { error, results } = await withTimeout(light.filter.subscribe([decoder], toLight.callback), 15_000, "subscribe");
      assert.equal(error, null);
      assert.equal(results.failures.length, 0, JSON.stringify(results.failures));
    });

    after(async () => {
      await stopAll([light, relay]);
      await stopNodes(nodes);
    });

    test("js relay → heliograph → light node's filter", { timeout: 60_000 }, async () => {
      for (const text of fromRelay) {
        const result = await relay.relay.send(encoder, { payload: utf8ToBytes(text) });
        assert.deepEqual(result.failures, []);
        assert.deepEqual(result.successes.map(String), [nodes[0].peerId]);
      }
      await toLight.received(fromRelay, "the light node's filter gets the relay peer's messages");
      await assertExactly(toLight, fromRelay, "light node");
    });

    test("light node lightpush (v2) → heliograph → js relay peer", { timeout: 60_000 }, async () => {
      for (const text of fromLight) {
        const result = await withTimeout(light.lightPush.send(encoder, { payload: utf8ToBytes(text) }), 15_000, "lightpush");
        assert.deepEqual(result.failures, [], "lightpush accepted");
        assert.equal(result.successes.length, 1);
      }
      await toRelay.received(fromLight, "the relay peer gets the light node's messages");
      await assertExactly(toRelay, fromLight, "relay peer");
      await assertExactly(toLight, [...fromRelay, ...fromLight], "light node");
    });

    test("store: js-waku's store client and every heliograph node return exactly the six", { timeout: 60_000 }, async () => {
      const stored = await withTimeout(legacyStoreQuery(light, nodes.at(-1), pubsubTopic, decoder), 20_000, "store");
      assert.deepEqual(stored.sort(), [...fromRelay, ...fromLight].sort());
      for (const node of nodes) await assertStored(node, pubsubTopic, [...fromRelay, ...fromLight]);
    });
  });
}
