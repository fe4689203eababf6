// Benchmark: time from the "Start secure chat" click to the DataChannel opening on
// the dapp page, through heliograph's bridge (offer, answer and candidates relayed
// inside the encrypted session), on one node and across a two-node mesh. Each run
// pairs two fresh pages first (not timed). Writes p50/p99 to bench/results/webrtc.md.
//   node e2e/bench.mjs [runs=20]
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call, pairAndApprove } from './flow.mjs';
import { launchBrowser, openPage, serveDist, startNode, waitForPeers } from './harness.mjs';

const runs = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 20);
const out = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench/results/webrtc.md');
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function measure(browser, site, mesh) {
  const a = await startNode();
  const b = mesh ? await startNode(['--bootstrap', a.addr]) : a;
  const times = [];
  try {
    if (mesh) await waitForPeers(b, 1);
    for (let i = 0; i < runs; i++) {
      const d = await openPage(browser, `${site.base}/dapp.html?relay=${encodeURIComponent(a.relayUrl)}`);
      const w = await openPage(browser, `${site.base}/wallet.html?relay=${encodeURIComponent(b.relayUrl)}`);
      try {
        await pairAndApprove(d.page, w.page);
        times.push(await call(d.page, w.page));
        console.log(`${mesh ? 'mesh' : 'one node'} run ${i + 1}/${runs}: ${times.at(-1).toFixed(1)} ms`);
      } finally {
        await d.close();
        await w.close();
      }
    }
  } finally {
    if (mesh) await b.stop();
    await a.stop();
  }
  return times;
}

const site = await serveDist();
const browser = await launchBrowser();
const results = [];
try {
  for (const mesh of [false, true]) results.push([mesh, await measure(browser, site, mesh)]);
} finally {
  await browser.close();
  await site.close();
}
const fmt = (x) => `${x.toFixed(1)} ms`;
const rows = results.map(([mesh, t]) => {
  const s = [...t].sort((x, y) => x - y);
  return `| ${mesh ? 'two-node mesh (dapp on A, wallet on B)' : 'one node'} | ${s.length} | ${fmt(pct(s, 50))} | ${fmt(pct(s, 99))} | ${fmt(s[0])} | ${fmt(s.at(-1))} |`;
});
const md = `# WebRTC call setup through the relay

Time from the **Start secure chat** click on the dapp page to the DataChannel's
\`open\` event on that page, in headless Chromium (Debian \`chromium\`, driven by
playwright-core), both pages on one machine, \`iceServers: []\` (loopback host
candidates). Offer, answer and trickled ICE candidates travel as \`wrtc_*\` requests
inside the encrypted session through the node's WalletConnect-relay bridge, and the peer
acknowledges each one. Each run first pairs two fresh pages (this part is not timed).
Debug build of \`heliograph\`, ${cpus().length} cores shared with other work.

Command: \`cd clients/demo && npm run build && node e2e/bench.mjs ${runs}\`
Date: ${new Date().toISOString()}

| path | runs | p50 | p99 | min | max |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}

With ${runs} runs, p99 is the slowest run.

${results.map(([mesh, t]) => `All runs, ${mesh ? 'mesh' : 'one node'} (ms): ${t.map((x) => x.toFixed(1)).join(', ')}`).join('\n\n')}
`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(md);
