// Interop of a heliograph service node with the official @waku/sdk light
// client: filter, lightpush (v3, the SDK default), store and metadata.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";

import { utf8ToBytes, bytesToUtf8 } from "@waku/sdk";

import { lightNodeFor, startNode, waitForRelayPeer, withTimeout } from "./helpers.js";

const CONTENT_TOPIC = "/heliograph/1/e2e/proto";

function pubsubTopicOf(encoder) {
  const topic = encoder.pubsubTopic ?? encoder.routingInfo?.pubsubTopic;
  assert.match(String(topic), /^\/waku\/2\/rs\/1\/\d+$/, "the SDK autoshards the content topic in cluster 1");
  return topic;
}

/** Resolves with the payloads (as text) once `count` distinct ones arrived through `subscribe`. */
function collector(count) {
  const seen = new Set();
  let resolve;
  const done = new Promise((r) => (resolve = r));
  const callback = (message) => {
    seen.add(bytesToUtf8(message.payload));
    if (seen.size >= count) resolve([...seen].sort());
  };
  return { callback, done, seen };
}

describe("heliograph serves @waku/sdk light nodes", () => {
  let service;
  let relayPeer;
  const lightNodes = [];

  before(async () => {
    service = await startNode();
    // A second node meshed with the service node, so lightpush has a relay peer.
    relayPeer = await startNode(["--bootstrap", `${service.wsAddr}`]);
  });

  after(async () => {
    for (const waku of lightNodes) await waku.stop().catch(() => {});
    await relayPeer?.stop();
    await service?.stop();
  });

  test("filter, lightpush and store round trip through one node", { timeout: 90_000 }, async () => {
    const waku = await lightNodeFor(service);
    lightNodes.push(waku);
    const encoder = waku.createEncoder({ contentTopic: CONTENT_TOPIC });
    const decoder = waku.createDecoder({ contentTopic: CONTENT_TOPIC });
    const pubsubTopic = pubsubTopicOf(encoder);
    await waitForRelayPeer(service, pubsubTopic);

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
    for (const text of sent) assert.ok(stored.includes(text), `store returned ${text}; got ${JSON.stringify(stored)}`);

    // The relay peer got them through the mesh, too (lightpush really relayed).
    const peerStored = await fetch(
      `${relayPeer.rest}/store/v3/messages?pubsubTopic=${encodeURIComponent(pubsubTopic)}` +
        `&contentTopics=${encodeURIComponent(CONTENT_TOPIC)}&includeData=true&pageSize=50`,
    ).then((r) => r.json());
    assert.equal(peerStored.statusCode, 200);
    const peerPayloads = peerStored.messages.map((m) => Buffer.from(m.message.payload, "base64").toString("utf8"));
    for (const text of sent) assert.ok(peerPayloads.includes(text), `relay peer stored ${text}`);

    // The metadata answer lists every served shard of cluster 1, so the SDK uses the node.
    const info = await fetch(`${service.rest}/debug/v1/info`).then((r) => r.json());
    assert.ok(info.pubsubTopics.includes(pubsubTopic));
  });

  test("a message lightpushed by client A reaches client B's filter subscription", { timeout: 90_000 }, async () => {
    const [a, b] = [await lightNodeFor(service), await lightNodeFor(service)];
    lightNodes.push(a, b);
    const contentTopic = "/heliograph/1/e2e-ab/proto";
    const encoder = a.createEncoder({ contentTopic });
    await waitForRelayPeer(service, pubsubTopicOf(encoder));
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
    const lonely = await startNode();
    try {
      const waku = await lightNodeFor(lonely);
      lightNodes.push(waku);
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
