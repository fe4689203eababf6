// The TS client in headless Chromium for the WalletConnect e2e tests: a static
// server on 127.0.0.1:0 for the bundle clients/ts builds (dist/heliograph-client.js)
// and the driver page, Debian's Chromium through playwright-core, and a handle
// per page that drives `window.party` (see page.mjs).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const BUNDLE = resolve(here, '../../../clients/ts/dist/heliograph-client.js');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const FILES = {
  '/': ['page.html', 'text/html; charset=utf-8'],
  '/page.mjs': ['page.mjs', 'text/javascript'],
  '/heliograph-client.js': [BUNDLE, 'text/javascript'],
};

/** Serves the driver page and the TS bundle; fails when the bundle was not built. */
export async function servePage() {
  if (!existsSync(BUNDLE)) throw new Error(`no TS client bundle at ${BUNDLE}: run \`npm ci && npm run build\` in clients/ts`);
  const server = createServer((req, res) => {
    const entry = FILES[new URL(req.url ?? '/', 'http://x').pathname];
    if (!entry) return res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': entry[1], 'cache-control': 'no-store' });
    res.end(readFileSync(entry[0].startsWith('/') ? entry[0] : join(here, entry[0])));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

/** Headless Chromium with a fresh profile; `close()` also removes the profile. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  const profile = mkdtempSync(join(tmpdir(), 'heliograph-wc-ts-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A TS party in a new page, its client connected to `relayUrl`.
 * `call` / `start` / `result` return `{ok, value}` or `{ok: false, error: {code, message}}`.
 */
export async function openParty(browser, base, relayUrl, name) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(base);
  await page.waitForFunction(() => window.party !== undefined);
  const info = await page.evaluate(([url, n]) => window.party.init(url, n), [relayUrl, name]);
  const ev = (fn, arg) => page.evaluate(fn, arg);
  return {
    page,
    errors,
    address: info.address,
    clientId: info.clientId,
    next: (event, ms = 30_000) => ev(([e, t]) => window.party.next(e, t), [event, ms]),
    pending: (event) => ev((e) => window.party.pending(e), event),
    summary: () => ev(() => window.party.summary()),
    call: (method, ...args) => ev(([m, a]) => window.party.call(m, a), [method, args]),
    /** Like `call` but throws on an error outcome. */
    async ok(method, ...args) {
      const r = await ev(([m, a]) => window.party.call(m, a), [method, args]);
      if (!r.ok) throw new Error(`${name}.${method} failed: ${JSON.stringify(r.error)}`);
      return r.value;
    },
    start: (id, method, ...args) => ev(([i, m, a]) => window.party.start(i, m, a), [id, method, args]),
    /** The outcome of a `start`ed call; waits at most `ms`. */
    result: (id, ms = 30_000) => ev(([i, t]) => Promise.race([window.party.result(i), new Promise((_, reject) => setTimeout(() => reject(new Error(`${i} unsettled after ${t} ms`)), t))]), [id, ms]),
    approve: (id, accounts, deny = []) => ev(([i, a, d]) => window.party.approve(i, a, d), [id, accounts, deny]),
    signAndRespond: (session, id, message) => ev(([s, i, m]) => window.party.signAndRespond(s, i, m), [session, id, message]),
    refuse: (session, id, code, message) => ev(([s, i, c, m]) => window.party.refuse(s, i, c, m), [session, id, code, message]),
    async close() {
      await ev(() => window.party.close()).catch(() => {});
      await page.close();
    },
  };
}
