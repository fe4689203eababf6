// Test harness: real `heliograph` processes on loopback (port 0) and
// `@waku/sdk` light nodes dialing them over /ws.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

import { createLightNode, Protocols } from "@waku/sdk";

export const CLUSTER_ID = 1;
export const NUM_SHARDS = 8;

const target = process.env.CARGO_TARGET_DIR ?? path.join(process.env.HOME ?? "/root", ".cache/heliograph-target");
export const HELIOGRAPH_BIN = process.env.HELIOGRAPH_BIN ?? path.join(target, "debug/heliograph");

/** Rejects after `ms` with `what` unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The environment without HELIOGRAPH_* settings, so only the flags given here apply. */
function cleanEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HELIOGRAPH_")));
}

/** Starts a node with a WebSocket listener and REST on port 0; resolves on its ready line. */
export async function startNode(extraArgs = []) {
  const dir = mkdtempSync(path.join(tmpdir(), "heliograph-e2e-"));
  const log = openSync(path.join(dir, "node.log"), "a");
  const child = spawn(
    HELIOGRAPH_BIN,
    [
      "--data-dir", dir,
      "--listen", "/ip4/127.0.0.1/tcp/0/ws",
      "--rest-addr", "127.0.0.1:0",
      "--bridge-addr", "127.0.0.1:0",
      "--cluster-id", String(CLUSTER_ID),
      "--num-shards", String(NUM_SHARDS),
      "--log", "info,heliograph_node=debug",
      ...extraArgs,
    ],
    { stdio: ["ignore", "pipe", log], env: cleanEnv() },
  );
  const lines = createInterface({ input: child.stdout });
  const exited = new Promise((_, reject) =>
    child.once("exit", (code) => reject(new Error(`heliograph exited with ${code}; log in ${dir}/node.log`))),
  );
  const firstLine = new Promise((resolve) => lines.once("line", resolve));
  const line = await withTimeout(Promise.race([firstLine, exited]), 30_000, "node ready line");
  const ready = JSON.parse(line);
  if (ready.event !== "ready") throw new Error(`unexpected first line: ${line}`);
  const wsAddr = ready.listenAddresses.find((a) => a.includes("/ws"));
  if (!wsAddr) throw new Error(`no /ws listen address in ${line}`);
  return {
    peerId: ready.peerId,
    wsAddr,
    rest: `http://${ready.rest}`,
    dir,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
      if (!process.env.KEEP_E2E_DATA) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `node` has at least one relay peer on `pubsubTopic` (per /admin/v1/peers). */
export async function waitForRelayPeer(node, pubsubTopic, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const peers = await (await fetch(`${node.rest}/admin/v1/peers`)).json();
    if (peers.some((p) => (p.pubsubTopics ?? p.topics ?? []).includes(pubsubTopic))) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no relay peer on ${pubsubTopic} within ${ms} ms`);
}

/** A light node (WebSocket, mplex, noise) dialed to `node` and ready for filter, lightpush and store. */
export async function lightNodeFor(node) {
  const waku = await createLightNode({
    defaultBootstrap: false,
    networkConfig: { clusterId: CLUSTER_ID, numShardsInCluster: NUM_SHARDS },
    libp2p: { filterMultiaddrs: false },
  });
  await waku.start();
  await withTimeout(waku.dial(node.wsAddr), 15_000, `dial ${node.wsAddr}`);
  await withTimeout(
    waku.waitForPeers([Protocols.Filter, Protocols.LightPush, Protocols.Store]),
    20_000,
    "waitForPeers(filter, lightpush, store)",
  );
  return waku;
}
