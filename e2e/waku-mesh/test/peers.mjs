// The js-waku peers of the mixed-mesh suite, each created through the SDK the
// way its documentation shows, WebSocket to the heliograph node's /ws address:
// - a relay peer: `createRelayNode` of @waku/sdk 0.0.27 (@waku/relay 0.0.14,
//   the newest relay on npm) on its default network config, cluster 1;
// - light nodes: `createLightNode` of @waku/sdk 0.0.36 on its defaults
//   (cluster 1, 8 shards, autosharding);
// - on a named pubsub topic, where sdk 0.0.36 has no way to route (it knows only
//   /waku/2/rs/… topics) and sdk 0.0.27's network config knows only shards: a
//   0.0.27 `WakuNode` given the topic list directly, with relay, or with
//   lightpush (v2), filter and store.
// package.json overrides protons-runtime to 5.6.0 under @waku/proto: 0.0.8's
// generated code needs MaxLengthError (protons-runtime 5.5+) but declares
// ^5.4.0, and gossipsub 13.2.0 pins 5.4.0, onto which npm would dedupe it.

import assert from "node:assert/strict";

import { wakuGossipSub } from "@waku/relay";
import { createLightNode, Protocols, bytesToUtf8 } from "@waku/sdk";
import { WakuNode, defaultLibp2p, waitForRemotePeer, Protocols as LegacyProtocols } from "waku-sdk-relay";
import { createRelayNode } from "waku-sdk-relay/relay";

import { waitFor, withTimeout } from "../../lib/node.mjs";

/** Plain /ws is dialable only with this (js-waku's documented switch for local nodes). */
const LOCAL = { defaultBootstrap: false, libp2p: { filterMultiaddrs: false } };

/** A js-waku relay node dialed to `node`: on the SDK's default shards, or only on `pubsubTopic`. */
export async function relayPeerFor(node, { pubsubTopic } = {}) {
  let waku;
  if (pubsubTopic) {
    const options = { ...LOCAL, libp2p: { ...LOCAL.libp2p } };
    const libp2p = await defaultLibp2p(undefined, wakuGossipSub(options), options.libp2p);
    waku = new WakuNode([pubsubTopic], options, libp2p, { relay: true });
  } else {
    waku = await createRelayNode({ ...LOCAL, libp2p: { ...LOCAL.libp2p } });
  }
  await waku.start();
  await withTimeout(waku.dial(node.wsAddr), 15_000, `relay peer dials ${node.wsAddr}`);
  return waku;
}

/** Resolves once the js relay node has `peerId` in its gossipsub mesh for `pubsubTopic`. */
export async function waitForJsMesh(waku, pubsubTopic, peerId) {
  await waitFor(() => waku.relay.getMeshPeers(pubsubTopic).includes(peerId), {
    timeoutMs: 30_000,
    what: `js relay mesh on ${pubsubTopic} to include ${peerId}`,
  });
}

/** An @waku/sdk 0.0.36 light node on the SDK's defaults, ready for filter, lightpush and store on `node`. */
export async function lightNodeFor(node) {
  const waku = await createLightNode({ ...LOCAL, libp2p: { ...LOCAL.libp2p } });
  await waku.start();
  await withTimeout(waku.dial(node.wsAddr), 15_000, `light node dials ${node.wsAddr}`);
  await withTimeout(
    waku.waitForPeers([Protocols.Filter, Protocols.LightPush, Protocols.Store]),
    20_000,
    "light node: waitForPeers(filter, lightpush, store)",
  );
  return waku;
}

/** An @waku/sdk 0.0.27 light node on the named `pubsubTopic` (legacy lightpush v2, filter v2, store v3). */
export async function namedTopicLightNodeFor(node, pubsubTopic) {
  const options = { ...LOCAL, libp2p: { ...LOCAL.libp2p } };
  const libp2p = await defaultLibp2p(undefined, undefined, options.libp2p);
  const waku = new WakuNode([pubsubTopic], options, libp2p, { lightpush: true, filter: true, store: true });
  await waku.start();
  await withTimeout(waku.dial(node.wsAddr), 15_000, `light node dials ${node.wsAddr}`);
  await withTimeout(
    waitForRemotePeer(waku, [LegacyProtocols.Filter, LegacyProtocols.LightPush, LegacyProtocols.Store]),
    20_000,
    "0.0.27 light node: waitForRemotePeer(filter, lightpush, store)",
  );
  return waku;
}

/**
 * Store v3 through js-waku 0.0.27's store client (`StoreCore.queryPerPage`, its
 * own paging by message hash) against `node`. The SDK wrapper above it cannot
 * pick a peer for a named topic, so the peer is given.
 */
export async function legacyStoreQuery(waku, node, pubsubTopic, decoder) {
  const peer = await waku.libp2p.peerStore.get(waku.libp2p.getPeers().find((p) => p.toString() === node.peerId));
  const query = { pubsubTopic, contentTopics: [decoder.contentTopic], includeData: true, paginationForward: true };
  const payloads = [];
  for await (const page of waku.store.protocol.queryPerPage(query, new Map([[decoder.contentTopic, decoder]]), peer)) {
    for (const message of await Promise.all(page)) if (message) payloads.push(bytesToUtf8(message.payload));
  }
  return payloads;
}

/**
 * Runs the js-waku node's own metadata handshake with `node` (either SDK
 * generation) and checks it decoded the node's cluster and every relayed shard.
 */
export async function assertMetadata(waku, node, { clusterId, shards }) {
  const peerId = waku.libp2p.getPeers().find((p) => p.toString() === node.peerId);
  assert.ok(peerId, `connected to ${node.name}`);
  const { shardInfo, error } = await withTimeout(waku.libp2p.services.metadata.query(peerId), 10_000, "metadata query");
  assert.equal(error, null, "js-waku decodes the metadata response");
  assert.equal(shardInfo.clusterId, clusterId);
  assert.deepEqual([...shardInfo.shards].sort((a, b) => a - b), shards);
}

/** Counts every delivery of a payload, so duplicates show. */
export function inbox() {
  const deliveries = [];
  return {
    deliveries,
    callback: (message) => deliveries.push(bytesToUtf8(message.payload)),
    /** Resolves once every one of `payloads` arrived. */
    async received(payloads, what) {
      await waitFor(() => payloads.every((p) => deliveries.includes(p)), { timeoutMs: 30_000, intervalMs: 100, what });
    },
  };
}

/** Waits `ms`, then checks `box` got exactly `payloads`, each once. */
export async function assertExactly(box, payloads, what, ms = 1_500) {
  await new Promise((r) => setTimeout(r, ms));
  assert.deepEqual([...box.deliveries].sort(), [...payloads].sort(), `${what}: each message exactly once`);
}

/** Stops js-waku nodes, ignoring the ones that failed to start. */
export async function stopAll(wakus) {
  for (const waku of wakus) await waku?.stop().catch(() => {});
}
