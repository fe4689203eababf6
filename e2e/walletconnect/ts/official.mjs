// The official WalletConnect SDKs for the TS-client e2e tests, each with its own
// in-memory storage and Core: @walletconnect/sign-client (dapp or wallet) and
// @reown/walletkit (wallet), pointed at a heliograph bridge as relayUrl.
import { Core } from '@walletconnect/core';
import { SignClient } from '@walletconnect/sign-client';
import { WalletKit } from '@reown/walletkit';

// Every SignClient gets its own Core (the SDK shares one per process by default).
process.env.DISABLE_GLOBAL_CORE = 'true';

const PROJECT_ID = '0123456789abcdef0123456789abcdef';
/** The SDKs' log level (pino): `WC_TS_SDK_LOG=debug` shows every message they send and receive. */
const LOG_LEVEL = process.env.WC_TS_SDK_LOG ?? 'error';

/** An in-memory IKeyValueStorage, so every client has its own state. */
class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  async getKeys() {
    return [...this.map.keys()];
  }
  async getEntries() {
    return [...this.map.entries()];
  }
  async getItem(key) {
    return this.map.get(key);
  }
  async setItem(key, value) {
    this.map.set(key, value);
  }
  async removeItem(key) {
    this.map.delete(key);
  }
}

const metadata = (name) => ({ name, description: `heliograph e2e ${name}`, url: 'http://localhost', icons: [] });
const prefix = (name) => `${name}-${Math.random().toString(16).slice(2)}`;

/** An official sign-client on `relayUrl`. */
export function signClient(relayUrl, name) {
  return SignClient.init({ projectId: PROJECT_ID, relayUrl, customStoragePrefix: prefix(name), storage: new MemoryStorage(), logger: LOG_LEVEL, metadata: metadata(name) });
}

/** A WalletKit wallet on `relayUrl`; `kit.engine.signClient` is its sign-client. */
export async function walletKit(relayUrl, name) {
  const core = new Core({ projectId: PROJECT_ID, relayUrl, customStoragePrefix: prefix(name), storage: new MemoryStorage(), logger: LOG_LEVEL });
  return WalletKit.init({ core, metadata: metadata(name) });
}

/** Closes a client's relay socket (sign-client or WalletKit). */
export async function closeOfficial(client) {
  const core = client.core;
  await core.relayer.transportClose().catch(() => {});
}

/** Resolves with the next `name` event of an emitter, or rejects after `ms`. */
export function once(emitter, name, ms = 30_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
    emitter.once(name, (v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
