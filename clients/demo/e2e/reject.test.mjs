// The user-rejection paths in real Chromium pages through a real node: the wallet's
// Reject button refuses the proposal (5000 "User rejected."), and rejecting a
// personal_sign answers 4001; the dapp page shows each refusal and no signature.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pairAndApprove } from './flow.mjs';
import { launchBrowser, openPage, serveDist, startNode } from './harness.mjs';

const T = 30_000;
let browser;
let site;
let node;
before(async () => {
  [site, browser, node] = await Promise.all([serveDist(), launchBrowser(), startNode()]);
});
after(async () => {
  await browser?.close();
  await site?.close();
  await node?.stop();
});

async function pages() {
  const relay = encodeURIComponent(node.relayUrl);
  const dapp = await openPage(browser, `${site.base}/dapp.html?relay=${relay}`);
  const wallet = await openPage(browser, `${site.base}/wallet.html?relay=${relay}`);
  return { dapp, wallet, close: async () => Promise.all([dapp.close(), wallet.close()]) };
}

test("the wallet's Reject button refuses the proposal and the dapp says so", async () => {
  const { dapp, wallet, close } = await pages();
  try {
    await dapp.page.waitForFunction(() => document.querySelector('#pair-uri')?.value.startsWith('wc:'), null, { timeout: T });
    await wallet.page.waitForSelector('#pair-button:not([disabled])', { timeout: T });
    await wallet.page.fill('#pair-input', await dapp.page.inputValue('#pair-uri'));
    await wallet.page.click('#pair-button');
    await wallet.page.click('#reject-button', { timeout: T });
    await dapp.page.waitForSelector('#pair-error:not([hidden])', { timeout: T });
    assert.match(await dapp.page.textContent('#pair-error'), /User rejected/);
    assert.equal(await dapp.page.isVisible('#session-card'), false);
  } finally {
    await close();
  }
});

test('rejecting personal_sign answers 4001; the dapp shows it and no signature', async () => {
  const { dapp, wallet, close } = await pages();
  try {
    await pairAndApprove(dapp.page, wallet.page);
    await dapp.page.click('#sign-button');
    await wallet.page.waitForSelector('#requests .request[data-method="personal_sign"] #sign-reject', { timeout: T });
    await wallet.page.click('#sign-reject');
    await dapp.page.waitForSelector('#sign-error:not([hidden])', { timeout: T });
    assert.match(await dapp.page.textContent('#sign-error'), /\(4001\).*User rejected the request/);
    assert.equal(await dapp.page.$('#sign-verified'), null);
  } finally {
    await close();
  }
});
