// A call that only works through TURN: Debian's coturn on loopback with TURN REST auth,
// the node handing out credentials for it (turn_credentials), and both pages with
// iceTransportPolicy 'relay'. The selected candidate pair must be relay on both ends;
// with credentials signed by a secret coturn does not share, the call must not open.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { call, chat, pairAndApprove } from './flow.mjs';
import { launchBrowser, openPage, screenshot, serveDist, startNode, startTurn } from './harness.mjs';

const SECRET = 'e2e-turn-shared-secret-0123456789';

let browser;
let site;
let turn;
before(async () => {
  site = await serveDist();
  browser = await launchBrowser();
  turn = await startTurn(SECRET);
});
after(async () => {
  await browser?.close();
  await site?.close();
  await turn?.stop();
});

async function pages(node, body) {
  const q = `?relay=${encodeURIComponent(node.relayUrl)}&icePolicy=relay`;
  const dapp = await openPage(browser, `${site.base}/dapp.html${q}`);
  const wallet = await openPage(browser, `${site.base}/wallet.html${q}`);
  try {
    await body(dapp, wallet);
  } catch (e) {
    e.message += `\n--- node log ---\n${node.log().slice(-2000)}\n--- turn log ---\n${turn.log().slice(-3000)}`;
    throw e;
  } finally {
    await dapp.close();
    await wallet.close();
  }
}

/**
 * The candidate types of the page's selected pair once it has succeeded (waiting up to
 * `waitMs`: the controlled side may report it a moment after the channel opened), and the
 * types of the local candidates gathered.
 */
function iceSummary(page, waitMs) {
  return page.evaluate(async (waitMs) => {
    const deadline = performance.now() + waitMs;
    for (;;) {
      const stats = await window.heliographCall.connection.getStats();
      let pair;
      stats.forEach((r) => {
        if (r.type === 'transport' && r.selectedCandidatePairId) pair = stats.get(r.selectedCandidatePairId);
      });
      const local = [];
      stats.forEach((r) => r.type === 'local-candidate' && local.push(r.candidateType));
      if (pair?.state === 'succeeded') return { pair: [stats.get(pair.localCandidateId).candidateType, stats.get(pair.remoteCandidateId).candidateType], local };
      if (performance.now() > deadline) return { pair: null, state: pair?.state ?? 'no selected pair', local };
      await new Promise((r) => setTimeout(r, 200));
    }
  }, waitMs);
}

test('relay-only call through coturn with node-issued TURN credentials: the selected pair is relay/relay', async () => {
  const node = await startNode(['--turn-url', turn.url, '--turn-secret', SECRET, '--turn-ttl', '10m']);
  try {
    await pages(node, async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await call(d.page, w.page);
      await chat(d.page, w.page);
      for (const [name, p] of [['dapp', d.page], ['wallet', w.page]]) {
        const ice = await iceSummary(p, 10_000);
        assert.deepEqual(ice.pair, ['relay', 'relay'], `${name}: the selected candidate pair is relay on both ends (${JSON.stringify(ice)})`);
        assert.ok(ice.local.every((t) => t === 'relay'), `${name}: relay policy gathers relay candidates only: ${JSON.stringify(ice.local)}`);
      }
      console.log('screenshot:', await screenshot(d.page, 'turn-dapp'));
      assert.deepEqual([...d.errors, ...w.errors].filter((e) => !/favicon/.test(e)), [], 'no page errors');
    });
  } finally {
    await node.stop();
  }
});

test('relay-only call with credentials from a secret coturn does not share: no relay candidate, the call does not open', async () => {
  const node = await startNode(['--turn-url', turn.url, '--turn-secret', 'not-the-secret-coturn-has-0000']);
  try {
    await pages(node, async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await d.page.waitForSelector('#call-start:not([disabled])', { timeout: 30_000 });
      await d.page.click('#call-start');
      // coturn answers each allocation with 401; ICE has no candidate to check.
      await d.page.waitForFunction(() => window.heliographCall.connection.iceGatheringState === 'complete', null, { timeout: 30_000 });
      await new Promise((r) => setTimeout(r, 5000));
      for (const [name, p] of [['dapp', d.page], ['wallet', w.page]]) {
        assert.notEqual(await p.getAttribute('#call-state', 'data-state'), 'open', `${name}: the call must not open`);
        const ice = await iceSummary(p, 0);
        assert.equal(ice.pair, null, `${name}: no candidate pair succeeded`);
        assert.ok(!ice.local.includes('relay'), `${name}: no relay candidate with a wrong secret: ${JSON.stringify(ice.local)}`);
      }
      assert.match(turn.log(), /401|[Uu]nauthori[sz]ed|check_stun_auth|cannot find credentials/, 'coturn refused the credentials');
    });
  } finally {
    await node.stop();
  }
});
