// Real parts for the browser end-to-end tests: heliograph node processes (with the
// WalletConnect-relay bridge), Debian's coturn for relay-only calls, a static HTTP server for the built demo pages, and
// Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = resolve(here, '../dist');
const targetDir = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME ?? '', '.cache/heliograph-target');
export const BIN = process.env.HELIOGRAPH_BIN ?? join(targetDir, 'debug/heliograph');
export const ARTIFACTS = process.env.HELIOGRAPH_E2E_ARTIFACTS ?? join(targetDir, 'e2e-artifacts');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const TURNSERVER = process.env.TURNSERVER_PATH ?? '/usr/bin/turnserver';

/** Flags that work on these machines (see /work/shared/webrtc-e2e.md). */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

/** Starts `heliograph` on loopback port 0 with its bridge; fails loudly when the bridge is missing. */
export async function startNode(extra = []) {
  if (!existsSync(BIN)) throw new Error(`bridge not available: no heliograph binary at ${BIN} (build it or set HELIOGRAPH_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), 'heliograph-webrtc-'));
  const logPath = join(dir, 'node.log');
  const env = { ...process.env };
  delete env.HELIOGRAPH_CONFIG;
  const child = spawn(
    BIN,
    ['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--rest-addr', '127.0.0.1:0', '--bridge-addr', '127.0.0.1:0', '--log', 'info', ...extra],
    { stdio: ['ignore', 'pipe', openSync(logPath, 'a')], env },
  );
  const lines = createInterface({ input: child.stdout });
  const log = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const ready = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`node not ready in 30 s:\n${log()}`)), 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        res(JSON.parse(line));
      } catch {
        rej(new Error(`unexpected first line from the node: ${line}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const text = log();
      const missing = /unexpected argument '--bridge-addr'/.test(text);
      rej(new Error(`${missing ? 'bridge not available: this heliograph has no --bridge-addr. ' : ''}node exited (${code}):\n${text.slice(-2000)}`));
    });
  });
  if (ready.event !== 'ready') throw new Error(`unexpected ready line ${JSON.stringify(ready)}`);
  if (!ready.bridge) {
    child.kill('SIGTERM');
    throw new Error(`bridge not available: the node's ready line has no "bridge" address: ${JSON.stringify(ready)}`);
  }
  return {
    ready,
    relayUrl: `ws://${ready.bridge}`,
    rest: `http://${ready.rest}`,
    addr: ready.listenAddresses[0].includes('/p2p/') ? ready.listenAddresses[0] : `${ready.listenAddresses[0]}/p2p/${ready.peerId}`,
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

/** A free loopback port (TCP, and in practice UDP too, for coturn's listener). */
async function freePort() {
  const srv = createNetServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Starts Debian's coturn (`turnserver`) on loopback with TURN REST auth (`use-auth-secret`,
 * `static-auth-secret`), relaying on loopback only; resolves once its TCP listener accepts.
 */
export async function startTurn(secret) {
  if (!existsSync(TURNSERVER)) throw new Error(`no coturn at ${TURNSERVER}: run scripts/setup --test (apt-get install coturn)`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'heliograph-turn-'));
  const logPath = join(dir, 'turn.log');
  const args = [
    '-n', '--no-cli', '--no-tls', '--no-dtls', '--listening-ip=127.0.0.1', '--relay-ip=127.0.0.1', `--listening-port=${port}`,
    '--allow-loopback-peers', '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm=heliograph.test', '--fingerprint',
    '--min-port=49152', '--max-port=65535', `--pidfile=${join(dir, 'turn.pid')}`, `--log-file=${logPath}`, '--simple-log', '--no-stdout-log',
  ];
  const child = spawn(TURNSERVER, args, { stdio: ['ignore', 'ignore', openSync(join(dir, 'stderr.log'), 'a')] });
  const log = () => ['turn.log', 'stderr.log'].map((f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '')).join('');
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`turnserver exited (${child.exitCode}):\n${log()}`);
    const up = await new Promise((r) => {
      const s = connect(port, '127.0.0.1', () => (s.end(), r(true)));
      s.on('error', () => r(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`turnserver not listening on ${port} in 15 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url: `turn:127.0.0.1:${port}?transport=udp`,
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

/** Waits until `node` has `n` relay peers (REST) and gives gossipsub time to graft. */
export async function waitForPeers(node, n) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const res = await fetch(`${node.rest}/admin/v1/peers`).catch(() => null);
    const peers = res?.ok ? await res.json() : [];
    if (peers.length >= n) {
      await new Promise((r) => setTimeout(r, 1500));
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`node did not reach ${n} peers in 20 s`);
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json', '.svg': 'image/svg+xml' };

/** Serves the built pages on 127.0.0.1:0. */
export async function serveDist() {
  if (!existsSync(join(DIST, 'dapp.html'))) throw new Error(`${DIST} has no built pages: run \`npm run build\` in clients/demo`);
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(DIST, path === '/' ? 'index.html' : path);
    if (!file.startsWith(DIST) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

/** Headless Debian Chromium. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup (apt-get install chromium)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A page in its own browser context (like a separate device), with console errors collected. */
export async function openPage(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(url);
  return { page, errors, close: () => context.close() };
}

/** Writes a full-page screenshot under the artifacts folder; returns its path. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
