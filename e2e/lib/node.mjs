// Real `heliograph` processes for the end-to-end suites, started as a user
// starts them: the binary's built-in defaults (the ones `scripts/run-node`
// uses: cluster 1, 8 shards, every shard relayed, store on, bridge on), with
// only what must differ for parallel runs overridden through the documented
// flags:
//   --data-dir     a fresh temporary folder per node
//   --listen       TCP and WebSocket on 127.0.0.1, port 0 (the OS picks a free port)
//   --rest-addr    127.0.0.1:0
//   --bridge-addr  127.0.0.1:0
// The node reports the ports it got in its JSON `ready` line, which this
// module waits for. Plain ESM, Node's standard library only, so every suite
// (whatever its npm dependencies) can import it by relative path.
//
// Environment:
//   HELIOGRAPH_BIN       the binary (default $CARGO_TARGET_DIR/debug/heliograph)
//   HELIOGRAPH_E2E_LOG   a `--log` filter for the nodes (default: the node's own, `info`)
//   KEEP_E2E_DATA=1      keep each node's folder (key, store, node.log) after the run
// Every other HELIOGRAPH_* variable is removed from the nodes' environment, so a
// developer's shell settings cannot change what the tests run against.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

const target = process.env.CARGO_TARGET_DIR ?? path.join(process.env.HOME ?? "/root", ".cache/heliograph-target");

/** The node binary every suite runs. */
export const HELIOGRAPH_BIN = process.env.HELIOGRAPH_BIN ?? path.join(target, "debug/heliograph");

/** The defaults the node runs with (see README "Configuration"); tests assert against these. */
export const DEFAULTS = Object.freeze({ clusterId: 1, numShards: 8 });

/** The legacy named pubsub topic, relayed when given with `--pubsub-topic`. */
export const DEFAULT_WAKU_TOPIC = "/waku/2/default-waku/proto";

/** How long a node may take to print its ready line (builds of other sessions share the CPU). */
const READY_TIMEOUT_MS = 60_000;
/** How long a node may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;

/** Children still running, killed if the test process exits without stopping them. */
const live = new Set();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Rejects after `ms` with `what` unless `promise` settles first. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `check` until it returns a truthy value (resolved with it) or `timeoutMs` passes. */
export async function waitFor(check, { timeoutMs = 20_000, intervalMs = 200, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function nodeEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("HELIOGRAPH_")));
}

/** The flags a test node gets: only what parallel runs need, then `extra`. */
export function testFlags(dataDir, extra = []) {
  const log = process.env.HELIOGRAPH_E2E_LOG ? ["--log", process.env.HELIOGRAPH_E2E_LOG] : [];
  return [
    "--data-dir", dataDir,
    "--listen", "/ip4/127.0.0.1/tcp/0",
    "--listen", "/ip4/127.0.0.1/tcp/0/ws",
    "--rest-addr", "127.0.0.1:0",
    "--bridge-addr", "127.0.0.1:0",
    ...log,
    ...extra,
  ];
}

/**
 * Starts one node and resolves once it printed its ready line.
 *
 * @param {object} [options]
 * @param {string[]} [options.args] extra documented flags, e.g. `["--pubsub-topic", DEFAULT_WAKU_TOPIC]`
 * @param {string[]} [options.bootstrap] multiaddrs (with `/p2p/…`) passed as `--bootstrap`
 * @param {string} [options.name] a label for the data folder and error messages
 * @returns {Promise<HeliographNode>}
 *
 * @typedef {object} HeliographNode
 * @property {string} name
 * @property {object} ready the node's ready line, parsed
 * @property {string} peerId
 * @property {string[]} listenAddresses as the node reported them
 * @property {string} tcpAddr TCP multiaddr ending in `/p2p/<peer id>`: what nodes bootstrap with
 * @property {string} wsAddr WebSocket multiaddr ending in `/p2p/<peer id>`: what js-waku dials
 * @property {string|null} rest `http://127.0.0.1:N` of the REST API
 * @property {string|null} bridge `127.0.0.1:N` of the WebSocket bridge
 * @property {string|null} relayUrl `ws://127.0.0.1:N` (the bridge, as WalletConnect's relayUrl)
 * @property {string} dataDir
 * @property {() => string} log the node's stderr so far
 * @property {(path: string, init?: RequestInit) => Promise<any>} restJson calls a REST route; the parsed JSON answer (or its text); throws unless 2xx
 * @property {() => Promise<void>} stop SIGTERM, wait, remove the data folder
 */
export async function startNode({ args = [], bootstrap = [], name = "node" } = {}) {
  if (!existsSync(HELIOGRAPH_BIN)) {
    throw new Error(`no heliograph binary at ${HELIOGRAPH_BIN}: build it (cargo build -p heliograph-node) or set HELIOGRAPH_BIN`);
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), `heliograph-e2e-${name}-`));
  const logPath = path.join(dataDir, "node.log");
  const flags = testFlags(dataDir, [...bootstrap.flatMap((addr) => ["--bootstrap", addr]), ...args]);
  const child = spawn(HELIOGRAPH_BIN, flags, { stdio: ["ignore", "pipe", openSync(logPath, "a")], env: nodeEnv() });
  live.add(child);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  exited.then(() => live.delete(child));
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8") : "");

  const lines = createInterface({ input: child.stdout });
  const readyLine = new Promise((resolve, reject) => {
    lines.on("line", (line) => {
      try {
        const parsed = JSON.parse(line);
        if (parsed.event === "ready") resolve(parsed);
      } catch {
        reject(new Error(`${name}: unexpected stdout line ${line}`));
      }
    });
  });
  const died = exited.then(({ code, signal }) => {
    throw new Error(`${name} exited (${code ?? signal}) before it was ready:\n${log().slice(-3000)}`);
  });
  let ready;
  try {
    ready = await withTimeout(Promise.race([readyLine, died]), READY_TIMEOUT_MS, `${name} ready line`);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }

  const withId = (addr) => `${addr}/p2p/${ready.peerId}`;
  const bare = ready.listenAddresses.map((a) => a.replace(/\/p2p\/[^/]+$/, ""));
  const tcp = bare.find((a) => /\/tcp\/\d+$/.test(a));
  const ws = bare.find((a) => /\/tcp\/\d+\/ws$/.test(a));
  if (!tcp || !ws) throw new Error(`${name}: expected a TCP and a /ws listen address, got ${JSON.stringify(ready)}`);
  const rest = ready.rest ? `http://${ready.rest}` : null;
  let stopped;
  return {
    name,
    ready,
    peerId: ready.peerId,
    listenAddresses: ready.listenAddresses,
    tcpAddr: withId(tcp),
    wsAddr: withId(ws),
    rest,
    bridge: ready.bridge ?? null,
    relayUrl: ready.bridge ? `ws://${ready.bridge}` : null,
    dataDir,
    log,
    async restJson(route, init) {
      if (!rest) throw new Error(`${name} serves no REST API`);
      const response = await fetch(`${rest}${route}`, init);
      const text = await response.text();
      if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${route}: ${response.status} ${text}`);
      return (response.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text;
    },
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
        }
        if (!process.env.KEEP_E2E_DATA) rmSync(dataDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

/**
 * Starts `count` nodes. With `mesh` (the default) node i bootstraps to every node
 * before it over TCP (`--bootstrap`), as an operator links nodes, and the call
 * resolves once every node has a relay peer on every shard it relays.
 *
 * @param {number} count
 * @param {{mesh?: boolean, args?: string[], name?: string}} [options]
 * @returns {Promise<HeliographNode[]>}
 */
export async function startNodes(count, { mesh = true, args = [], name = "node" } = {}) {
  const nodes = [];
  try {
    for (let i = 0; i < count; i++) {
      const bootstrap = mesh ? nodes.map((n) => n.tcpAddr) : [];
      nodes.push(await startNode({ args, bootstrap, name: `${name}${i}` }));
    }
    if (mesh && count > 1) {
      for (const node of nodes) {
        const info = await node.restJson("/debug/v1/info");
        for (const topic of info.pubsubTopics) await waitForRelayPeers(node, topic, count - 1);
      }
    }
    return nodes;
  } catch (error) {
    await stopNodes(nodes);
    throw error;
  }
}

/** Stops every node (in reverse start order); never throws. */
export async function stopNodes(nodes) {
  for (const node of [...nodes].reverse()) await node?.stop().catch(() => {});
}

/**
 * Resolves with `/admin/v1/peers` once at least `count` connected peers relay
 * `pubsubTopic`: subscribed to it, or with `mesh` (the default) in the node's
 * gossipsub mesh for it, so that messages the node receives are forwarded to
 * them. `peerIds` narrows the count to those peers.
 */
export async function waitForRelayPeers(node, pubsubTopic, count = 1, { peerIds, mesh = true, timeoutMs = 30_000 } = {}) {
  return waitFor(
    async () => {
      const peers = await node.restJson("/admin/v1/peers");
      const relaying = peers.filter((p) => {
        const topics = (mesh ? p.meshTopics : p.pubsubTopics) ?? [];
        const id = p.peerId ?? p.multiaddr?.split("/p2p/").pop();
        return topics.includes(pubsubTopic) && (!peerIds || peerIds.includes(id));
      });
      return relaying.length >= count ? peers : null;
    },
    { timeoutMs, what: `${node.name}: ${count} ${mesh ? "mesh" : "relay"} peer(s) on ${pubsubTopic}` },
  );
}
