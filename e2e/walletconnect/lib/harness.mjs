// Real heliograph processes for the WalletConnect end-to-end tests, and a
// sign-client dapp/wallet pair wired to them.
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SignClient } from '@walletconnect/sign-client';
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
