// Benchmark: time from the "Start secure chat" click to the DataChannel opening on
// the dapp page, through a heliograph node's bridge (offer, answer and candidates
// all relayed inside the encrypted session). Each run pairs two fresh pages first
// (not timed). Writes p50/p99 to bench/results/webrtc.md.
//   node e2e/bench.mjs [runs=20] [--mesh]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call, pairAndApprove } from './flow.mjs';
import { BIN, launchBrowser, openPage, serveDist, startNode, waitForPeers } from './harness.mjs';

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 20);
const mesh = process.argv.includes('--mesh');
const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench/results/webrtc.md');

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const site = await serveDist();
const browser = await launchBrowser();
const a = await startNode();
const b = mesh ? await startNode(['--bootstrap', a.addr]) : a;
if (mesh) await waitForPeers(b, 1);
const times = [];
try {
  for (let i = 0; i < runs; i++) {
    const d = await openPage(browser, `${site.base}/dapp.html?relay=${encodeURIComponent(a.relayUrl)}`);
    const w = await openPage(browser, `${site.base}/wallet.html?relay=${encodeURIComponent(b.relayUrl)}`);
    try {
      await pairAndApprove(d.page, w.page);
      const ms = await call(d.page, w.page);
      times.push(ms);
      console.log(`run ${i + 1}/${runs}: ${ms.toFixed(1)} ms`);
    } finally {
      await d.close();
      await w.close();
    }
  }
} finally {
  if (mesh) await b.stop();
  await a.stop();
  await browser.close();
  await site.close();
}
const sorted = [...times].sort((x, y) => x - y);
const fmt = (x) => `${x.toFixed(1)} ms`;
const md = `# WebRTC call setup through the relay

Time from the **Start secure chat** click on the dapp page to the DataChannel's
\`open\` event on that page, in headless Chromium (Debian \`chromium\`, playwright-core),
both pages on one machine, \`iceServers: []\` (loopback host candidates). Offer,
answer and trickled ICE candidates travel as \`wrtc_*\` requests inside the encrypted
session through ${mesh ? 'two heliograph nodes of a mesh (dapp on A, wallet on B)' : 'one heliograph node'}'s WalletConnect-relay bridge;
each signaling request is acknowledged by the peer. Each run pairs two fresh pages
first (not timed). Node binary: \`${process.env.HELIOGRAPH_BENCH_BIN_NOTE ?? BIN}\` (debug build), ${cpus().length} cores shared with other work.

Command: \`cd clients/demo && npm run build && node e2e/bench.mjs ${runs}${mesh ? ' --mesh' : ''}\`
Date: ${new Date().toISOString()}

| runs | p50 | p99 | min | max |
|---:|---:|---:|---:|---:|
| ${sorted.length} | ${fmt(pct(sorted, 50))} | ${fmt(pct(sorted, 99))} | ${fmt(sorted[0])} | ${fmt(sorted[sorted.length - 1])} |

All runs (ms): ${times.map((t) => t.toFixed(1)).join(', ')}
`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(md);
