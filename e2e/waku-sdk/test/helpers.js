// @waku/sdk light nodes created as a new user creates them (the SDK's default
// network config: cluster 1, 8 shards, autosharding), dialed to heliograph
// nodes started by the shared harness (e2e/lib/node.mjs) on their defaults.

import assert from "node:assert/strict";

import { createLightNode, Protocols } from "@waku/sdk";

import { DEFAULTS, withTimeout } from "../../lib/node.mjs";

export { DEFAULTS, startNode, startNodes, stopNodes, waitForRelayPeers, withTimeout } from "../../lib/node.mjs";

/** Every shard a default node relays, as its metadata answer must list them. */
export const DEFAULT_SHARDS = Array.from({ length: DEFAULTS.numShards }, (_, i) => i);

/**
 * A light node (WebSocket, mplex, noise) with the SDK's default network config,
 * dialed to `node` and ready for filter, lightpush and store. Plain `/ws` is
 * allowed (`filterMultiaddrs: false`), as js-waku documents for local nodes.
 */
export async function lightNodeFor(node) {
  const waku = await createLightNode({ defaultBootstrap: false, libp2p: { filterMultiaddrs: false } });
  await waku.start();
  await withTimeout(waku.dial(node.wsAddr), 15_000, `dial ${node.wsAddr}`);
  await withTimeout(
    waku.waitForPeers([Protocols.Filter, Protocols.LightPush, Protocols.Store]),
    20_000,
    "waitForPeers(filter, lightpush, store)",
  );
  return waku;
}

/**
 * Runs js-waku's own metadata handshake with `node` and checks what it decoded:
 * the node's cluster and every shard it relays, also stored in the peer store
 * where js-waku's peer selection reads it.
 */
export async function assertMetadataHandshake(waku, node, shards = DEFAULT_SHARDS) {
  const peerId = waku.libp2p.getPeers().find((p) => p.toString() === node.peerId);
  assert.ok(peerId, `connected to ${node.peerId}`);
  const { shardInfo, error } = await withTimeout(waku.libp2p.services.metadata.query(peerId), 10_000, "metadata query");
  assert.equal(error, null, "js-waku decodes the metadata response");
  assert.equal(shardInfo.clusterId, DEFAULTS.clusterId);
  assert.deepEqual([...shardInfo.shards].sort((a, b) => a - b), shards);
  const stored = (await waku.libp2p.peerStore.get(peerId)).metadata.get("shardInfo");
  assert.ok(stored, "the shard info is in js-waku's peer store");
}
