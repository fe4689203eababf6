/**
 * Where a client keeps what must survive a reload or restart (the session
 * snapshot, the relay client's seed): a small async key-value interface, with a
 * memory store (tests, short-lived tools) and an IndexedDB store (browsers). The
 * Node file store is in `store-file.ts` (entry `@heliograph/client/node`), so the
 * browser bundle never imports `node:fs`.
 *
 * Values hold secret keys: keep them where secrets belong.
 */

import { bytesToHex, hexToBytes, randomBytes } from './bytes.js';

/** An async string key-value store. */
export interface KeyValueStore {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Keeps values in memory (gone with the process). */
export class MemoryStore implements KeyValueStore {
  private values = new Map<string, string>();

  async get(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }

  async set(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.values.delete(key);
  }
}

/** Keeps values in an IndexedDB object store (`indexedDB` of the page or worker). */
export class IndexedDbStore implements KeyValueStore {
  private constructor(
    private db: IDBDatabase,
    private storeName: string,
  ) {}

  /** Opens (creating if needed) database `name` with one object store. */
  static open(name = 'heliograph', storeName = 'kv'): Promise<IndexedDbStore> {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(storeName);
      req.onsuccess = () => resolve(new IndexedDbStore(req.result, storeName));
      req.onerror = () => reject(req.error ?? new Error(`cannot open IndexedDB ${name}`));
    });
  }

  private run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(this.storeName, mode);
      const req = op(tx.objectStore(this.storeName));
      tx.oncomplete = () => resolve(req.result);
      tx.onerror = () => reject(tx.error ?? new Error('IndexedDB transaction failed'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
    });
  }

  async get(key: string): Promise<string | undefined> {
    const v = await this.run('readonly', (s) => s.get(key));
    return typeof v === 'string' ? v : undefined;
  }

  async set(key: string, value: string): Promise<void> {
    await this.run('readwrite', (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    await this.run('readwrite', (s) => s.delete(key));
  }

  close(): void {
    this.db.close();
  }
}

/**
 * The relay client's Ed25519 seed kept in `store` (created on first use), so a
 * reloaded page reconnects with the same client id and gets what the relay
 * stored for it meanwhile. Pass it as `RelayOptions.seed`.
 */
export async function persistentSeed(store: KeyValueStore, key = 'heliograph/relay-seed'): Promise<Uint8Array> {
  const saved = await store.get(key);
  if (saved !== undefined && /^[0-9a-f]{64}$/.test(saved)) return hexToBytes(saved);
  const seed = randomBytes(32);
  await store.set(key, bytesToHex(seed));
  return seed;
}
