// Types of node.mjs for TypeScript suites (clients/ts tests import it by relative path).
export const HELIOGRAPH_BIN: string;
export interface HeliographNode {
  name: string;
  ready: Record<string, unknown>;
  peerId: string;
  rest: string | null;
  bridge: string | null;
  relayUrl: string | null;
  dataDir: string;
  log(): string;
  restJson(path: string, init?: RequestInit): Promise<any>;
  stop(): Promise<void>;
}
export function startNode(options?: { args?: string[]; bootstrap?: string[]; name?: string }): Promise<HeliographNode>;
export function waitFor<T>(check: () => T | Promise<T>, options?: { timeoutMs?: number; intervalMs?: number; what?: string }): Promise<T>;
