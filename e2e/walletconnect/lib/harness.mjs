// Real heliograph processes for the WalletConnect end-to-end tests, and the
// official clients and our Rust examples wired to them. Exports (kept stable:
// other suites' test files import them):
//
//   BIN                      the node binary (HELIOGRAPH_BIN)
//   startNode(extra), waitForPeers(node, n)
//                            the original node starter; new tests use e2e/lib/node.mjs
//   signClient(relayUrl, name)         an official @walletconnect/sign-client, own Core and memory storage
//   walletKit(relayUrl, name)          an official @reown/walletkit wallet on its own @walletconnect/core
//   runWallet(wallet, account)         a sign-client wallet that approves eip155:1 and signs personal_sign
//   pair(dapp, wallet)                 sign-client connect → pair → approve; resolves with the dapp's session
//   personalSign(dapp, session, account, text)   returns the recovered signer address
//   newAccount(), closeClient(client)
//   EXAMPLES_DIR                       the Rust examples (HELIOGRAPH_EXAMPLES_DIR, default $CARGO_TARGET_DIR/debug/examples)
//   startRustPeer(role, relayUrl)      the Rust `dapp` or `wallet` example in `--control` mode:
//                                      { address, send(cmd) → answer, next(event, pred?) → line, lines, stop() }
//   signClientWallet(client), walletKitWallet(kit)
//                                      one wallet interface over both SDKs (pair, proposal(), approve,
//                                      reject, request(), respond, emit, update, extend, ping, disconnect,
//                                      deleted(), session(topic)) so a flow runs against either
//   waitEvent(emitter, name, pred?)    the next event `name` matching `pred`, with a timeout
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SignClient } from '@walletconnect/sign-client';
import { Core } from '@walletconnect/core';
import { WalletKit } from '@reown/walletkit';
import { Wallet, getBytes, hexlify, toUtf8Bytes, verifyMessage } from 'ethers';

const targetDir = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME ?? '', '.cache/heliograph-target');
export const BIN = process.env.HELIOGRAPH_BIN ?? join(targetDir, 'debug/heliograph');

function withoutConfig(env) {
  const copy = { ...env };
  delete copy.HELIOGRAPH_CONFIG;
  return copy;
}

/** Starts `heliograph` on loopback port 0 and resolves with its ready line. */
export async function startNode(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), 'heliograph-wc-'));
  const log = openSync(join(dir, 'node.log'), 'a');
  const child = spawn(
    BIN,
    [
      '--data-dir', dir,
      '--listen', '/ip4/127.0.0.1/tcp/0',
      '--rest-addr', '127.0.0.1:0',
      '--bridge-addr', '127.0.0.1:0',
      '--log', 'info,heliograph_node=debug',
      ...extra,
    ],
    { stdio: ['ignore', 'pipe', log], env: withoutConfig(process.env) },
  );
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node not ready in 30 s:\n${readFileSync(join(dir, 'node.log'))}`)), 30_000);
    lines.once('line', (line) => { clearTimeout(timer); resolve(JSON.parse(line)); });
    child.once('exit', (code) => reject(new Error(`node exited (${code}):\n${readFileSync(join(dir, 'node.log'))}`)));
  });
  if (ready.event !== 'ready' || !ready.bridge) throw new Error(`unexpected ready line ${JSON.stringify(ready)}`);
  return {
    ready,
    relayUrl: `ws://${ready.bridge}`,
    rest: `http://${ready.rest}`,
    addr: ready.listenAddresses[0],
    log: () => readFileSync(join(dir, 'node.log'), 'utf8'),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until `node` has `n` relay peers and the gossipsub mesh had time to form. */
export async function waitForPeers(node, n) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const peers = await (await fetch(`${node.rest}/admin/v1/peers`)).json();
    if (peers.length >= n) {
      await new Promise((r) => setTimeout(r, 1500));
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('peers did not connect in 20 s');
}

/** An in-memory IKeyValueStorage, so every client has its own state. */
class MemoryStorage {
  constructor() { this.map = new Map(); }
  async getKeys() { return [...this.map.keys()]; }
  async getEntries() { return [...this.map.entries()]; }
  async getItem(key) { return this.map.get(key); }
  async setItem(key, value) { this.map.set(key, value); }
  async removeItem(key) { this.map.delete(key); }
}

// Every SignClient gets its own Core (the SDK shares one per process by default).
process.env.DISABLE_GLOBAL_CORE = 'true';

const PROJECT_ID = '0123456789abcdef0123456789abcdef';

export async function signClient(relayUrl, name) {
  return SignClient.init({
    projectId: PROJECT_ID,
    relayUrl,
    customStoragePrefix: `${name}-${Math.random().toString(16).slice(2)}`,
    storage: new MemoryStorage(),
    logger: 'error',
    metadata: { name, description: `heliograph e2e ${name}`, url: 'http://localhost', icons: [] },
  });
}

const NAMESPACES = { eip155: { methods: ['personal_sign'], chains: ['eip155:1'], events: ['accountsChanged'] } };

/** A wallet that approves every proposal for eip155:1 and signs personal_sign with a real key. */
export function runWallet(wallet, account) {
  wallet.on('session_proposal', async ({ id }) => {
    await wallet.approve({
      id,
      namespaces: {
        eip155: {
          accounts: [`eip155:1:${account.address}`],
          methods: ['personal_sign'],
          events: ['accountsChanged'],
          chains: ['eip155:1'],
        },
      },
    });
  });
  wallet.on('session_request', async ({ id, topic, params }) => {
    const [message] = params.request.params;
    const signature = await account.signMessage(getBytes(message));
    await wallet.respond({ topic, response: { id, jsonrpc: '2.0', result: signature } });
  });
}

/** Connect, pair, approve: resolves with the dapp's session. */
export async function pair(dapp, wallet) {
  const { uri, approval } = await dapp.connect({ optionalNamespaces: NAMESPACES });
  await wallet.pair({ uri });
  return approval();
}

/** personal_sign through the session; returns the recovered signer address. */
export async function personalSign(dapp, session, account, text) {
  const message = hexlify(toUtf8Bytes(text));
  const signature = await dapp.request({
    topic: session.topic,
    chainId: 'eip155:1',
    request: { method: 'personal_sign', params: [message, account.address] },
  });
  return verifyMessage(getBytes(message), signature);
}

export function newAccount() {
  return Wallet.createRandom();
}

export async function closeClient(client) {
  try {
    await client.core.relayer.transportClose();
  } catch {
    // Already closed.
  }
}

/** A @reown/walletkit wallet on its own Core (memory storage), as wallets ship it. */
export async function walletKit(relayUrl, name) {
  const core = new Core({
    projectId: PROJECT_ID,
    relayUrl,
    customStoragePrefix: `${name}-${Math.random().toString(16).slice(2)}`,
    storage: new MemoryStorage(),
    logger: 'error',
  });
  return WalletKit.init({
    core,
    metadata: { name, description: `heliograph e2e ${name}`, url: 'http://localhost', icons: [] },
  });
}

const WAIT_MS = 30_000;

/** The next `name` event of `emitter` for which `pred` holds (30 s timeout). */
export function waitEvent(emitter, name, pred = () => true) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, listener);
      reject(new Error(`no ${name} event in ${WAIT_MS} ms`));
    }, WAIT_MS);
    const listener = (event) => {
      if (!pred(event)) return;
      clearTimeout(timer);
      emitter.off(name, listener);
      resolve(event);
    };
    emitter.on(name, listener);
  });
}

export const EXAMPLES_DIR = process.env.HELIOGRAPH_EXAMPLES_DIR ?? join(targetDir, 'debug/examples');

/**
 * Starts the Rust `dapp` or `wallet` example with `--control` against `relayUrl`.
 * `send(cmd)` writes one command and resolves with its `ok` answer (rejects on
 * `error`); `next(event, pred)` resolves with the first line of that event not
 * taken yet for which `pred` holds.
 */
export async function startRustPeer(role, relayUrl) {
  const bin = join(EXAMPLES_DIR, role);
  if (!existsSync(bin)) throw new Error(`no ${bin}: run cargo build -p heliograph-session --examples`);
  const dir = mkdtempSync(join(tmpdir(), `heliograph-wc-${role}-`));
  const args = ['--relay', relayUrl, '--state', join(dir, 'state.json'), '--control'];
  if (role === 'wallet') args.push('--eth-key-file', join(dir, 'eth.key'));
  const child = spawn(bin, args, {
    stdio: ['pipe', 'pipe', openSync(join(dir, 'stderr.log'), 'a')],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' },
  });
  const lines = [];
  const taken = new Set();
  const waiters = new Set();
  const log = () => (existsSync(join(dir, 'stderr.log')) ? readFileSync(join(dir, 'stderr.log'), 'utf8').slice(-3000) : '');
  let exited = null;
  child.once('exit', (code, signal) => {
    exited = code ?? signal;
    for (const w of waiters) w.fail(new Error(`${role} exited (${exited}):\n${log()}`));
  });
  const offer = (index) => {
    for (const w of waiters) {
      if (!taken.has(index) && w.match(lines[index])) {
        taken.add(index);
        waiters.delete(w);
        w.done(lines[index]);
      }
    }
  };
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    if ((line.event === 'ok' || line.event === 'error') && answers.has(line.ref)) {
      const answer = answers.get(line.ref);
      answers.delete(line.ref);
      answer(line);
      return;
    }
    lines.push(line);
    offer(lines.length - 1);
  });
  const next = (event, pred = () => true) =>
    new Promise((resolve, reject) => {
      const match = (line) => line.event === event && pred(line);
      const found = lines.findIndex((line, i) => !taken.has(i) && match(line));
      if (found >= 0) {
        taken.add(found);
        resolve(lines[found]);
        return;
      }
      if (exited !== null) {
        reject(new Error(`${role} exited (${exited}) before ${event}:\n${log()}`));
        return;
      }
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${role}: no ${event} line in ${WAIT_MS} ms; saw ${JSON.stringify(lines.map((l) => l.event))}\n${log()}`));
      }, WAIT_MS);
      const waiter = {
        match,
        done: (line) => { clearTimeout(timer); resolve(line); },
        fail: (error) => { clearTimeout(timer); reject(error); },
      };
      waiters.add(waiter);
    });
  let refs = 0;
  /** Commands waiting for their answer, by ref. */
  const answers = new Map();
  const send = (cmd) =>
    new Promise((resolve, reject) => {
      const ref = ++refs;
      const timer = setTimeout(() => {
        answers.delete(ref);
        reject(new Error(`${role} ${cmd.cmd}: no answer in ${WAIT_MS} ms\n${log()}`));
      }, WAIT_MS);
      answers.set(ref, (line) => {
        clearTimeout(timer);
        if (line.event === 'ok') resolve(line);
        else reject(new Error(`${role} ${cmd.cmd}: ${line.error}`));
      });
      child.stdin.write(`${JSON.stringify({ ...cmd, ref })}\n`);
    });
  const ready = await next('control_ready');
  const walletReady = role === 'wallet' ? lines.find((l) => l.event === 'ready') : null;
  return {
    role,
    ready,
    address: walletReady?.address ?? null,
    lines,
    send,
    next,
    log,
    async stop() {
      if (exited === null) {
        child.stdin.end();
        child.kill('SIGTERM');
        await new Promise((resolve) => (exited !== null ? resolve() : child.once('exit', resolve)));
      }
      if (!process.env.KEEP_E2E_DATA) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ACK_RACE: `update()` / `extend()` of sign-client 2.25.0 (and WalletKit's) resolve once the
// relay acknowledged the publish and return `acknowledged()`, a delayed promise that forgets a
// peer's answer which arrived before it was called. A peer on the same node answers within
// milliseconds, often before the publish ack, and `acknowledged()` then waits five minutes.
// The wallets below resolve on the publish; flows check the stored sessions and peer events.

/** The wallet interface of a @walletconnect/sign-client. */
export function signClientWallet(client) {
  return {
    client,
    name: client.metadata.name,
    pair: (uri) => client.pair({ uri }),
    proposal: () => waitEvent(client, 'session_proposal'),
    approve: async (params) => {
      const { topic, acknowledged } = await client.approve(params);
      await acknowledged();
      return client.session.get(topic);
    },
    reject: (params) => client.reject(params),
    request: () => waitEvent(client, 'session_request'),
    respond: (params) => client.respond(params),
    emit: (params) => client.emit(params),
    // Resolves once the relay acknowledged the publish, not on `acknowledged()`: see ACK_RACE.
    update: async (params) => void (await client.update(params)),
    extend: async (params) => void (await client.extend(params)),
    ping: (params) => client.ping(params),
    disconnect: (params) => client.disconnect(params),
    deleted: () => waitEvent(client, 'session_delete'),
    session: (topic) => client.session.getAll().find((s) => s.topic === topic),
    close: () => closeClient(client),
  };
}

/** The same wallet interface over @reown/walletkit's own method names. */
export function walletKitWallet(kit) {
  return {
    client: kit,
    name: kit.metadata.name,
    pair: (uri) => kit.pair({ uri }),
    proposal: () => waitEvent(kit, 'session_proposal'),
    approve: (params) => kit.approveSession(params),
    reject: (params) => kit.rejectSession(params),
    request: () => waitEvent(kit, 'session_request'),
    respond: (params) => kit.respondSessionRequest(params),
    emit: (params) => kit.emitSessionEvent(params),
    // As above (ACK_RACE).
    update: async (params) => void (await kit.updateSession(params)),
    extend: async (params) => void (await kit.extendSession(params)),
    // WalletKit has no ping of its own: its sign client's.
    ping: (params) => kit.engine.signClient.ping(params),
    disconnect: (params) => kit.disconnectSession(params),
    deleted: () => waitEvent(kit, 'session_delete'),
    session: (topic) => kit.getActiveSessions()[topic],
    close: () => closeClient(kit),
  };
}
