// A real heliograph node with its WalletConnect-relay bridge, for the session tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const targetDir = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME ?? '', '.cache/heliograph-target');
export const BIN = process.env.HELIOGRAPH_BIN ?? join(targetDir, 'debug/heliograph');

export interface RunningNode {
  relayUrl: string;
  log: () => string;
  stop: () => Promise<void>;
}

/** Starts `heliograph` on loopback port 0; fails with "bridge not available" when it has no bridge. */
export async function startNode(): Promise<RunningNode> {
  if (!existsSync(BIN)) throw new Error(`bridge not available: no heliograph binary at ${BIN} (build it or set HELIOGRAPH_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), 'heliograph-ts-'));
  const logPath = join(dir, 'node.log');
  const env = { ...process.env };
  delete env.HELIOGRAPH_CONFIG;
  const child = spawn(BIN, ['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--rest-addr', '127.0.0.1:0', '--bridge-addr', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', openSync(logPath, 'a')],
    env,
  });
  const log = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const ready = await new Promise<{ bridge?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node not ready in 30 s:\n${log()}`)), 30_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`bridge not available? node exited (${code}):\n${log().slice(-1500)}`));
    });
  });
  if (!ready.bridge) throw new Error(`bridge not available: ready line ${JSON.stringify(ready)}`);
  return {
    relayUrl: `ws://${ready.bridge}`,
    log,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
