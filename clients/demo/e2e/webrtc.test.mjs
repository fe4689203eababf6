// Two real browser pages pair through heliograph's WalletConnect-relay bridge,
// approve, sign, open a WebRTC DataChannel and chat: on one node, and on two
// nodes of a mesh. A fake camera added mid-call reaches the other page by
// renegotiation. A tampered DTLS fingerprint makes the wallet refuse the call.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { addCamera, bothCameras, call, chat, glare, hangup, pairAndApprove, restartIce, sign } from './flow.mjs';
import { launchBrowser, openPage, screenshot, serveDist, startNode, waitForPeers } from './harness.mjs';

let browser;
let site;
before(async () => {
  site = await serveDist();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await site?.close();
});

async function scenario(name, dappRelay, walletRelay, query = '') {
  const dapp = await openPage(browser, `${site.base}/dapp.html?relay=${encodeURIComponent(dappRelay)}${query}`);
  const wallet = await openPage(browser, `${site.base}/wallet.html?relay=${encodeURIComponent(walletRelay)}`);
  try {
    return await name(dapp, wallet);
  } finally {
    await dapp.close();
    await wallet.close();
  }
}

test('one node: pair, approve per item, sign, DataChannel chat with the same SAS, ICE restart, hang-up', async () => {
  const node = await startNode();
  try {
    await scenario(async (d, w) => {
      await pairAndApprove(d.page, w.page, async () => {
        console.log('screenshots:', await screenshot(d.page, 'pairing-dapp'), await screenshot(w.page, 'proposal-wallet'));
      });
      await sign(d.page, w.page);
      await call(d.page, w.page);
      await chat(d.page, w.page);
      await restartIce(d.page, w.page);
      console.log('screenshots:', await screenshot(d.page, 'one-node-dapp'), await screenshot(w.page, 'one-node-wallet'));
      await hangup(d.page, w.page);
      assert.deepEqual(d.errors.filter((e) => !/favicon/.test(e)), [], 'no errors on the dapp page');
      assert.deepEqual(w.errors.filter((e) => !/favicon/.test(e)), [], 'no errors on the wallet page');
    }, node.relayUrl, node.relayUrl);
  } catch (e) {
    e.message += `\n--- node log ---\n${node.log().slice(-3000)}`;
    throw e;
  } finally {
    await node.stop();
  }
});

test('two-node mesh: dapp on node A, wallet on node B', async () => {
  const a = await startNode();
  const b = await startNode(['--bootstrap', a.addr]);
  try {
    await waitForPeers(b, 1);
    await scenario(async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await sign(d.page, w.page);
      await call(d.page, w.page);
      await chat(d.page, w.page);
      console.log('screenshots:', await screenshot(d.page, 'mesh-dapp'), await screenshot(w.page, 'mesh-wallet'));
    }, a.relayUrl, b.relayUrl);
  } catch (e) {
    e.message += `\n--- node A log ---\n${a.log().slice(-2000)}\n--- node B log ---\n${b.log().slice(-2000)}`;
    throw e;
  } finally {
    await b.stop();
    await a.stop();
  }
});

test('a fake camera track added mid-call: renegotiation over the session, the wallet receives video packets', async () => {
  const node = await startNode();
  try {
    await scenario(async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await call(d.page, w.page);
      await addCamera(d.page, w.page);
      console.log('screenshot:', await screenshot(w.page, 'camera-wallet'));
      assert.deepEqual([...d.errors, ...w.errors].filter((e) => !/favicon/.test(e)), [], 'no page errors');
    }, node.relayUrl, node.relayUrl);
  } catch (e) {
    e.message += `\n--- node log ---\n${node.log().slice(-3000)}`;
    throw e;
  } finally {
    await node.stop();
  }
});

test('both pages add a camera at once (crossing renegotiations): each receives the other\'s video', async () => {
  const node = await startNode();
  try {
    await scenario(async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await call(d.page, w.page);
      await bothCameras(d.page, w.page);
      await chat(d.page, w.page);
      assert.deepEqual([...d.errors, ...w.errors].filter((e) => !/favicon/.test(e)), [], 'no page errors');
    }, node.relayUrl, node.relayUrl);
  } finally {
    await node.stop();
  }
});

test('a DTLS fingerprint swapped on the signaling path makes the wallet refuse the call', async () => {
  const node = await startNode();
  try {
    await scenario(async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await d.page.click('#call-start');
      await w.page.waitForSelector('#call-state[data-state="failed"]', { timeout: 30_000 });
      assert.match(await w.page.textContent('#call-error'), /incoming call refused: DTLS fingerprint mismatch/);
      await d.page.waitForSelector('#call-error:not([hidden])', { timeout: 30_000 });
      assert.match(await d.page.textContent('#call-error'), /the peer refused the call: DTLS fingerprint mismatch.*call refused/);
      assert.notEqual(await d.page.getAttribute('#call-state', 'data-state'), 'open');
      console.log('screenshot:', await screenshot(w.page, 'tampered-wallet'));
    }, node.relayUrl, node.relayUrl, '&tamper=fingerprint');
  } finally {
    await node.stop();
  }
});

test('glare: both pages start the call at once, one yields, one call opens', async () => {
  const node = await startNode();
  try {
    await scenario(async (d, w) => {
      await pairAndApprove(d.page, w.page);
      await glare(d.page, w.page);
      await chat(d.page, w.page);
      assert.deepEqual([...d.errors, ...w.errors], [], 'no page errors');
    }, node.relayUrl, node.relayUrl);
  } finally {
    await node.stop();
  }
});
