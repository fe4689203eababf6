// Debian's nginx with deploy/nginx/heliograph.conf as shipped (only its port,
// the node's bridge address and the certificate paths changed) terminates TLS
// in front of a real heliograph node started as a user does (e2e/lib/node.mjs).
// A page on an https origin in headless Chromium opens wss:// to nginx,
// subscribes and publishes through the bridge, and gets its message back.
// The certificate is self-signed by openssl for this run; Chromium is told to
// ignore certificate errors, as a browser trusting a private CA would. The
// dapp's pages come from an https server of the test on loopback, under public
// names mapped to 127.0.0.1 by Chromium's resolver: a public page reaching a
// loopback relay would be stopped by Chromium's Local Network Access checks,
// which a real deployment (public page, public relay) never meets.

import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";
import { generateKeyPair, signJWT } from "@walletconnect/relay-auth";

import { startNode, waitFor, withTimeout } from "../../lib/node.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--ignore-certificate-errors",
  "--host-resolver-rules=MAP dapp.example 127.0.0.1, MAP evil.example 127.0.0.1",
];
const CONTENT_TOPIC = "/heliograph-e2e/1/tls-proxy/proto";

/** Replaces `from` in `text`, which must occur exactly once (the shipped file is what runs). */
function replaceOnce(text, from, to, file) {
  const count = text.split(from).length - 1;
  assert.equal(count, 1, `${file}: expected exactly one \`${from}\`, found ${count}`);
  return text.replace(from, to);
}

/** A free port on 127.0.0.1 (nginx cannot report a port 0 listener). */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dir;
let node;
let nginx;
let nginxLog = "";
let port;
let browser;
let pages;
let dappOrigin;
let evilOrigin;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "heliograph-tls-proxy-"));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", path.join(dir, "privkey.pem"), "-out", path.join(dir, "fullchain.pem"),
  ], { stdio: "ignore" });

  // The dapp's page server (any https page would do).
  pages = createHttpsServer({
    key: readFileSync(path.join(dir, "privkey.pem")),
    cert: readFileSync(path.join(dir, "fullchain.pem")),
  }, (_, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>dapp</title>"));
  await new Promise((resolve) => pages.listen(0, "127.0.0.1", resolve));
  dappOrigin = `https://dapp.example:${pages.address().port}`;
  evilOrigin = `https://evil.example:${pages.address().port}`;

  // As an operator runs it: nginx on the same host, the node trusting it for X-Forwarded-For
  // and accepting the dapp's origin.
  node = await startNode({
    name: "tls-proxy",
    args: ["--trusted-proxy", "127.0.0.1/32", "--bridge-allowed-origin", dappOrigin],
  });

  port = await freePort();
  const siteFile = path.join(ROOT, "deploy/nginx/heliograph.conf");
  let site = readFileSync(siteFile, "utf8");
  site = replaceOnce(site, "listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`, siteFile);
  site = replaceOnce(site, "listen [::]:443 ssl;", "", siteFile);
  site = replaceOnce(site, "/etc/nginx/tls/fullchain.pem", path.join(dir, "fullchain.pem"), siteFile);
  site = replaceOnce(site, "/etc/nginx/tls/privkey.pem", path.join(dir, "privkey.pem"), siteFile);
  site = replaceOnce(site, "/var/log/nginx/access.log", path.join(dir, "access.log"), siteFile);
  const upstreamFile = path.join(ROOT, "deploy/nginx/upstream.conf");
  const upstream = replaceOnce(readFileSync(upstreamFile, "utf8"), "127.0.0.1:8090", node.bridge, upstreamFile);
  writeFileSync(path.join(dir, "site.conf"), site);
  writeFileSync(path.join(dir, "upstream.conf"), upstream);
  // The frame Debian's /etc/nginx/nginx.conf gives conf.d files, with every path in this folder.
  writeFileSync(path.join(dir, "nginx.conf"), [
    "daemon off;",
    "master_process off;",
    `pid ${dir}/nginx.pid;`,
    "error_log stderr info;",
    "events { worker_connections 256; }",
    "http {",
    `  access_log ${dir}/access.log;`,
    `  client_body_temp_path ${dir}/body;`,
    `  proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi;`,
    `  scgi_temp_path ${dir}/scgi;`,
    `  include ${dir}/upstream.conf;`,
    `  include ${dir}/site.conf;`,
    "}",
    "",
  ].join("\n"));
  nginx = spawn("nginx", ["-p", dir, "-c", path.join(dir, "nginx.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  nginx.stderr.on("data", (chunk) => { nginxLog += chunk; });
  const exited = new Promise((resolve) => nginx.once("exit", resolve));
  await Promise.race([
    waitFor(() => new Promise((resolve) => {
      const socket = connect(port, "127.0.0.1", () => { socket.end(); resolve(true); });
      socket.on("error", () => resolve(false));
    }), { timeoutMs: 15_000, what: `nginx on 127.0.0.1:${port}` }),
    exited.then((code) => { throw new Error(`nginx exited (${code}):\n${nginxLog}`); }),
  ]);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  if (process.env.KEEP_E2E_DATA) console.error(`nginx log (${dir}):\n${nginxLog}`);
  await browser?.close();
  pages?.close();
  nginx?.kill("SIGQUIT");
  await node?.stop();
  if (dir && !process.env.KEEP_E2E_DATA) rmSync(dir, { recursive: true, force: true });
});

test("a page on an https origin subscribes and publishes through nginx over wss", async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${dappOrigin}/`);
  assert.equal(await page.evaluate(() => location.protocol), "https:");

  const url = `wss://localhost:${port}/`;
  const outcome = await withTimeout(page.evaluate(async ({ url, contentTopic }) => {
    const ws = new WebSocket(url);
    const frames = [];
    let waiting = null;
    ws.onmessage = (event) => {
      frames.push(JSON.parse(event.data));
      waiting?.();
    };
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot open ${url}`));
    });
    const next = async (match) => {
      for (;;) {
        const found = frames.find(match);
        if (found) return found;
        await new Promise((resolve) => { waiting = resolve; });
      }
    };
    const call = async (id, method, params) => {
      ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
      return next((f) => f.id === id);
    };
    const subscribed = await call(1, "waku_subscribe", { contentTopics: [contentTopic] });
    const payload = btoa("hello over wss");
    const published = await call(2, "waku_publish", { message: { payload, contentTopic } });
    const push = await next((f) => f.method === "waku_subscription");
    ws.close();
    return { subscribed, published, push, payload };
  }, { url, contentTopic: CONTENT_TOPIC }), 20_000, "wss round trip");

  assert.equal(typeof outcome.subscribed.result, "string", JSON.stringify(outcome.subscribed));
  assert.ok(outcome.published.result?.hash, JSON.stringify(outcome.published));
  assert.equal(outcome.push.params.subscription, outcome.subscribed.result);
  assert.equal(outcome.push.params.result.hash, outcome.published.result.hash);
  assert.equal(outcome.push.params.result.message.payload, outcome.payload);
  assert.equal(outcome.push.params.result.message.contentTopic, CONTENT_TOPIC);

  // It went through nginx: the upgrade is in its access log with status 101 (written
  // when the proxied connection ends, just after the page closed it).
  await waitFor(() => /"GET \/ HTTP\/1\.1" 101 /.test(readFileSync(path.join(dir, "access.log"), "utf8")),
    { timeoutMs: 10_000, what: "the upgrade in nginx's access log" });
  await context.close();
});

test("the bridge behind nginx still refuses an origin it does not know", async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${evilOrigin}/`);
  const opened = await page.evaluate((url) => new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve(true); };
    ws.onerror = () => resolve(false);
  }), `wss://localhost:${port}/`);
  assert.equal(opened, false, "a cross-site page cannot use the bridge through the proxy");
  const access = readFileSync(path.join(dir, "access.log"), "utf8");
  assert.match(access, /"GET \/ HTTP\/1\.1" 403 /, access);
  await context.close();
});

test("a WalletConnect client signing for the proxy's wss URL is admitted; one signed for another relay is not", async () => {
  // The official relay-auth package signs as @walletconnect/sign-client does: aud is the
  // relay URL as configured, here the public wss:// address of nginx with its port.
  const keyPair = generateKeyPair();
  const relayUrl = `wss://localhost:${port}`;
  const ours = await signJWT("ab".repeat(32), relayUrl, 86_400, keyPair);
  const theirs = await signJWT("ab".repeat(32), "wss://relay.walletconnect.org", 86_400, keyPair);
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  await page.goto(`${dappOrigin}/`);
  const outcome = await withTimeout(page.evaluate(async ({ relayUrl, ours, theirs }) => {
    const open = (jwt) => new Promise((resolve) => {
      const ws = new WebSocket(`${relayUrl}/?auth=${jwt}&projectId=e2e`);
      ws.onopen = () => resolve(ws);
      ws.onerror = () => resolve(null);
    });
    const refused = (await open(theirs)) === null;
    const ws = await open(ours);
    if (!ws) return { refused, subscribed: null };
    const reply = new Promise((resolve) => { ws.onmessage = (event) => resolve(JSON.parse(event.data)); });
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "irn_subscribe", params: { topic: "cd".repeat(32) } }));
    const subscribed = await reply;
    ws.close();
    return { refused, subscribed };
  }, { relayUrl, ours, theirs }), 20_000, "wss WalletConnect upgrade");
  assert.equal(outcome.refused, true, "a token signed for another relay opened a socket");
  assert.equal(typeof outcome.subscribed?.result, "string", JSON.stringify(outcome.subscribed));
  const access = readFileSync(path.join(dir, "access.log"), "utf8");
  assert.match(access, /"GET \/ HTTP\/1\.1" 401 /, access);
  assert.ok(!access.includes(ours) && !access.includes(theirs) && !access.includes("auth="),
    `the proxy logged a bearer token:\n${access}`);
  await context.close();
});
