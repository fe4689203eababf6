// The demo flow driven through the two pages, with assertions at each step.
import assert from 'node:assert/strict';

const T = 30_000;

/** Pairs the wallet with the dapp, approves (declining one optional item), checks per-item results and the session SAS. */
export async function pairAndApprove(dapp, wallet, beforeApprove = async () => {}) {
  await dapp.waitForFunction(() => document.querySelector('#pair-uri')?.value.startsWith('wc:'), null, { timeout: T });
  const uri = await dapp.inputValue('#pair-uri');
  assert.match(uri, /^wc:[0-9a-f]{64}@2\?expiryTimestamp=\d+&relay-protocol=irn&symKey=[0-9a-f]{64}$/);
  await wallet.waitForSelector('#pair-button:not([disabled])', { timeout: T });
  await wallet.fill('#pair-input', uri);
  await wallet.click('#pair-button');
  await wallet.waitForSelector('#proposal-items', { timeout: T });
  const items = await wallet.$$eval('#proposal-items input', (els) => els.map((e) => [e.dataset.item, e.dataset.required]));
  assert.ok(items.some(([i, r]) => i === 'eip155/methods/personal_sign' && r === 'true'), 'personal_sign is a required item');
  assert.ok(items.some(([i, r]) => i === 'eip155/methods/wrtc_offer' && r === 'false'), 'calls are optional items');
  // The user declines one optional item.
  await wallet.uncheck('#proposal-items input[data-item="eip155/methods/eth_signTypedData_v4"]');
  await beforeApprove();
  await wallet.click('#approve-button');
  await dapp.waitForSelector('#session-card:not([hidden])', { timeout: T });
  await wallet.waitForSelector('#session-card:not([hidden])', { timeout: T });
  const outcome = (item) => dapp.getAttribute(`#granted-items li[data-item="${item}"]`, 'data-outcome');
  assert.equal(await outcome('eip155/methods/personal_sign'), 'granted');
  assert.equal(await outcome('eip155/methods/eth_signTypedData_v4'), 'denied');
  assert.equal(await outcome('eip155/methods/wrtc_offer'), 'granted');
  const [ds, ws] = [await dapp.textContent('#session-sas'), await wallet.textContent('#session-sas')];
  assert.match(ds, /^\d{3} \d{3}$/);
  assert.equal(ds, ws, 'both pages show the same session code');
}

/** personal_sign: the wallet signs, the dapp recovers the account's address. */
export async function sign(dapp, wallet) {
  await dapp.click('#sign-button');
  await wallet.waitForSelector('#requests .request[data-method="personal_sign"] #sign-approve', { timeout: T });
  assert.match(await wallet.textContent('#requests .request pre'), /Welcome to the Heliograph demo/);
  await wallet.click('#sign-approve');
  await dapp.waitForSelector('#sign-verified', { timeout: T });
  assert.equal(await dapp.getAttribute('#sign-verified', 'data-ok'), 'true', await dapp.textContent('#sign-verified'));
  const account = (await dapp.textContent('#session-account')).split(':')[2];
  const address = await wallet.textContent('#wallet-address');
  assert.equal(account, address);
}

/** Starts the call from the dapp; resolves with the milliseconds from click to open on the dapp. */
export async function call(dapp, wallet) {
  await dapp.waitForSelector('#call-start:not([disabled])', { timeout: T });
  const t0 = await dapp.evaluate(() => performance.now());
  await dapp.click('#call-start');
  const state = async (p) => `${await p.textContent('#call-state')} / ${await p.textContent('#call-error')}`;
  const explain = async (e) => {
    throw new Error(`${e.message}\ndapp call: ${await state(dapp)}\nwallet call: ${await state(wallet)}`);
  };
  await dapp.waitForSelector('#call-state[data-state="open"]', { timeout: T }).catch(explain);
  const t1 = await dapp.evaluate(() => performance.now());
  await wallet.waitForSelector('#call-state[data-state="open"]', { timeout: T }).catch(explain);
  const [ds, ws] = [await dapp.textContent('#call-sas'), await wallet.textContent('#call-sas')];
  assert.match(ds, /^\d{3} \d{3}$/, 'the call code is six digits');
  assert.equal(ds, ws, 'both pages show the same call code');
  for (const p of [dapp, wallet]) {
    await p.waitForSelector('#call-cert[data-status]', { timeout: T });
    assert.equal(await p.getAttribute('#call-cert', 'data-status'), 'verified', 'the DTLS certificate was checked against the SAS-covered fingerprint');
  }
  return t1 - t0;
}

/** Chat both ways over the DataChannel. */
export async function chat(dapp, wallet) {
  await dapp.fill('#chat-input', 'Hello from the dapp');
  await dapp.click('#chat-send');
  await wallet.waitForFunction(() => [...document.querySelectorAll('#chat-log .msg.them')].some((m) => m.textContent === 'Hello from the dapp'), null, { timeout: T });
  await wallet.fill('#chat-input', 'Hi! Code matches here.');
  await wallet.click('#chat-send');
  await dapp.waitForFunction(() => [...document.querySelectorAll('#chat-log .msg.them')].some((m) => m.textContent === 'Hi! Code matches here.'), null, { timeout: T });
}

/** ICE restart from the dapp: both sides renew, the code stays, chat still works. */
export async function restartIce(dapp, wallet) {
  const before = await dapp.textContent('#call-sas');
  await dapp.click('#call-restart');
  await dapp.waitForSelector('#chat-card[data-restarts="1"]', { timeout: T });
  await wallet.waitForSelector('#chat-card[data-restarts="1"]', { timeout: T });
  assert.equal(await dapp.textContent('#call-sas'), before, 'the code survives an ICE restart');
  assert.equal(await wallet.textContent('#call-sas'), before);
  await dapp.fill('#chat-input', 'Still here after the restart');
  await dapp.click('#chat-send');
  await wallet.waitForFunction(() => [...document.querySelectorAll('#chat-log .msg.them')].some((m) => m.textContent === 'Still here after the restart'), null, { timeout: T });
}

/** Both pages start the call in the same instant (glare): exactly one yields, one call opens with one code. */
export async function glare(dapp, wallet) {
  for (const p of [dapp, wallet]) await p.waitForSelector('#call-start:not([disabled])', { timeout: T });
  // Both clicks at one agreed instant of the shared clock, not when each page's evaluate
  // call arrives (on a loaded machine those came tens of ms apart: no glare then).
  const at = Date.now() + 300;
  await Promise.all([dapp, wallet].map((p) => p.evaluate((at) => new Promise((resolve) => {
    setTimeout(() => { document.getElementById('call-start').click(); resolve(); }, Math.max(0, at - Date.now()));
  }), at)));
  for (const p of [dapp, wallet]) await p.waitForSelector('#call-state[data-state="open"]', { timeout: T });
  const yielded = await Promise.all([dapp, wallet].map((p) => p.getAttribute('#chat-card', 'data-glare')));
  assert.equal(yielded.filter((g) => g === 'lost').length, 1, `exactly one side yields the glare: ${JSON.stringify(yielded)}`);
  const [ds, ws] = [await dapp.textContent('#call-sas'), await wallet.textContent('#call-sas')];
  assert.match(ds, /^\d{3} \d{3}$/);
  assert.equal(ds, ws, 'one call, one code');
}

/** The dapp hangs up: the wallet's call ends with the dapp's reason. */
export async function hangup(dapp, wallet) {
  await dapp.click('#call-hangup');
  await wallet.waitForSelector('#call-state[data-state="closed"]', { timeout: T });
  assert.match(await wallet.textContent('#call-state'), /ended: hung up/);
  assert.equal(await dapp.getAttribute('#call-state', 'data-state'), 'closed');
}

/**
 * The dapp adds its (fake) camera mid-call: a renegotiation over the same signaling; the
 * wallet gets the track and its inbound-rtp stats count video packets; chat still works.
 */
export async function addCamera(dapp, wallet) {
  const before = await dapp.textContent('#call-sas');
  await dapp.click('#call-camera');
  await wallet.waitForSelector('#chat-card[data-remote-tracks="1"]', { timeout: T });
  for (const p of [dapp, wallet]) await p.waitForSelector('#chat-card[data-renegotiations="1"]', { timeout: T });
  assert.equal(await wallet.textContent('#call-sas'), before, 'the code survives a renegotiation');
  const inbound = () =>
    wallet.evaluate(async () => {
      let packets = 0;
      (await window.heliographCall.connection.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') packets += r.packetsReceived ?? 0;
      });
      return packets;
    });
  const deadline = Date.now() + T;
  let packets = 0;
  while ((packets = await inbound()) < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  assert.ok(packets >= 10, `the wallet receives the dapp's video: ${packets} inbound-rtp packets`);
  await dapp.fill('#chat-input', 'Camera on');
  await dapp.click('#chat-send');
  await wallet.waitForFunction(() => [...document.querySelectorAll('#chat-log .msg.them')].some((m) => m.textContent === 'Camera on'), null, { timeout: T });
}

/** Both pages click "Send camera" in the same instant (crossing renegotiations): each page gets the other's video, one code. */
export async function bothCameras(dapp, wallet) {
  await Promise.all([dapp, wallet].map((p) => p.evaluate(() => document.getElementById('call-camera').click())));
  for (const p of [dapp, wallet]) await p.waitForSelector('#chat-card[data-remote-tracks="1"]', { timeout: T });
  for (const p of [dapp, wallet]) {
    const deadline = Date.now() + T;
    let packets = 0;
    while (Date.now() < deadline) {
      packets = await p.evaluate(async () => {
        let n = 0;
        (await window.heliographCall.connection.getStats()).forEach((r) => {
          if (r.type === 'inbound-rtp' && r.kind === 'video') n += r.packetsReceived ?? 0;
        });
        return n;
      });
      if (packets >= 10) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(packets >= 10, `each side receives the other's video: ${packets} inbound-rtp packets`);
  }
  assert.equal(await dapp.textContent('#call-sas'), await wallet.textContent('#call-sas'));
}
