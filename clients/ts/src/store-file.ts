/**
 * A Node key-value store in one JSON file, written atomically (temporary file,
 * fsync, rename) so a crash leaves the old or the new contents, never half.
 * The file holds secret keys: it is created with mode 0600.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { KeyValueStore } from './store.js';

export class FileStore implements KeyValueStore {
  private cache: Record<string, string> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  private async load(): Promise<Record<string, string>> {
    if (this.cache) return this.cache;
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error(`${this.path} is not a JSON object`);
      this.cache = parsed as Record<string, string>;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.cache = {};
    }
    return this.cache;
  }

  private flush(): Promise<void> {
    const data = JSON.stringify(this.cache ?? {});
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.tmp`;
      const f = await open(tmp, 'w', 0o600);
      try {
        await f.writeFile(data);
        await f.sync();
      } finally {
        await f.close();
      }
      await rename(tmp, this.path);
    });
    return this.writing;
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.load())[key];
  }

  async set(key: string, value: string): Promise<void> {
    (await this.load())[key] = value;
    await this.flush();
  }

  async delete(key: string): Promise<void> {
    delete (await this.load())[key];
    await this.flush();
  }
}
