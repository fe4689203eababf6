// The heliograph TS client (clients/ts, bundled, in headless Chromium) against the
// official WalletConnect SDKs in Node: @walletconnect/sign-client 2.25.0 as dapp and
// as wallet, @reown/walletkit 1.6.0 as wallet. Through one heliograph node and across
// two meshed nodes (dapp on one, wallet on the other), each pairing goes
// pair → approve → request → response (and an error response) → event → update →
// extend → session and pairing ping both ways → disconnect → pairing delete, then the reject path.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Wallet, getBytes, hexlify, toUtf8Bytes, verifyMessage } from 'ethers';
import { startNode, startNodes, stopNodes, withTimeout } from '../../lib/node.mjs';
import { launchBrowser, openParty, servePage } from '../ts/browser.mjs';
import { closeOfficial, once, signClient, walletKit } from '../ts/official.mjs';

const USER_DISCONNECTED = { code: 6000, message: 'User disconnected.' };
const USER_REJECTED = { code: 5000, message: 'User rejected.' };
const REQUEST_REJECTED = { code: 4001, message: 'User rejected the request.' };

let browser;
let server;
before(async () => {
  server = await servePage();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** Every step of a flow gets this long: a hang fails with the step's name. */
const STEP_MS = 30_000;
const step = (what, promise) => withTimeout(promise, STEP_MS, what);
/** `api` with each function's promise bounded by STEP_MS and named `label.key`. */
function timed(label, api) {
  return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, typeof v === 'function' ? (...a) => step(`${label}.${k}`, v(...a)) : v]));
}

/** Runs `flow(dappUrl, walletUrl)` through one node, or across two meshed nodes. */
async function onNodes(count, flow) {
  const nodes = count === 1 ? [await startNode({ name: 'wc-ts' })] : await startNodes(2, { name: 'wc-ts' });
  try {
    await flow(nodes[0].relayUrl, nodes[nodes.length - 1].relayUrl);
  } catch (error) {
    for (const n of nodes) console.error(`--- ${n.name} log tail ---\n${n.log().slice(-3000)}`);
    throw error;
  } finally {
    await stopNodes(nodes);
  }
}

// ---- official dapp ↔ TS wallet ------------------------------------------------------

const DAPP_NAMESPACES = { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged', 'chainChanged'] } };

async function officialDappTsWallet(dappUrl, walletUrl) {
  const dapp = await signClient(dappUrl, 'official-dapp');
  const wallet = await openParty(browser, server.base, walletUrl, 'ts-wallet');
  try {
    const account = `eip155:1:${wallet.address}`;
    const { uri, approval } = await dapp.connect({ optionalNamespaces: DAPP_NAMESPACES });
    const approved = approval();
    await wallet.ok('pair', uri);
    const proposal = await wallet.next('proposal');
    assert.deepEqual(proposal.request, { requiredNamespaces: {}, optionalNamespaces: DAPP_NAMESPACES });
    assert.equal(proposal.proposerMetadata.name, 'official-dapp');

    const mine = await wallet.approve(proposal.id, [account]);
    assert.ok(mine.ok, JSON.stringify(mine.error));
    const session = await step('approval()', approved);
    const granted = { eip155: { chains: ['eip155:1'], accounts: [account], methods: ['personal_sign'], events: ['accountsChanged', 'chainChanged'] } };
    assert.equal(session.topic, mine.value.session);
    assert.equal(session.pairingTopic, mine.value.pairing);
    assert.deepEqual(session.namespaces, granted);
    assert.deepEqual(mine.value.namespaces, granted);
    assert.equal(session.expiry, mine.value.expiry);
    assert.equal(session.peer.metadata.name, 'ts-wallet');
    assert.equal(mine.value.peerMetadata.name, 'official-dapp');
    const topic = session.topic;

    // request → response, and a request the wallet refuses
    const message = hexlify(toUtf8Bytes('hello from the official dapp'));
    const signed = dapp.request({ topic, chainId: 'eip155:1', request: { method: 'personal_sign', params: [message, wallet.address] } });
    const req = await wallet.next('request');
    assert.deepEqual(req, { session: topic, id: req.id, method: 'personal_sign', params: [message, wallet.address], chainId: 'eip155:1' });
    assert.ok((await wallet.signAndRespond(topic, req.id, message)).ok);
    assert.equal(verifyMessage(getBytes(message), await step('dapp.request', signed)).toLowerCase(), wallet.address);
    const refused = dapp.request({ topic, chainId: 'eip155:1', request: { method: 'personal_sign', params: ['0x00', wallet.address] } }).then(
      () => null,
      (e) => ({ code: e.code, message: e.message }),
    );
    const req2 = await wallet.next('request');
    assert.ok((await wallet.refuse(topic, req2.id, REQUEST_REJECTED.code, REQUEST_REJECTED.message)).ok);
    assert.deepEqual(await step('refused dapp.request', refused), REQUEST_REJECTED);

    // event
    const event = once(dapp, 'session_event');
    await wallet.ok('emitEvent', topic, 'accountsChanged', [wallet.address], 'eip155:1');
    const e = await event;
    assert.equal(e.topic, topic);
    assert.deepEqual(e.params, { event: { name: 'accountsChanged', data: [wallet.address] }, chainId: 'eip155:1' });

    // update: a second account on another chain
    const second = `eip155:10:${wallet.address}`;
    const updatedNs = { eip155: { chains: ['eip155:1', 'eip155:10'], accounts: [account, second], methods: ['personal_sign'], events: ['accountsChanged', 'chainChanged'] } };
    const update = once(dapp, 'session_update');
    await wallet.ok('update', topic, { eip155: { accounts: [account, second], methods: ['personal_sign'], events: ['accountsChanged', 'chainChanged'] } });
    const u = await update;
    assert.equal(u.topic, topic);
    assert.deepEqual(u.params, { namespaces: updatedNs });
    assert.deepEqual(dapp.session.get(topic).namespaces, updatedNs);

    // extend: both sides now expire seven days from now
    const extend = once(dapp, 'session_extend');
    const expiry = await wallet.ok('extend', topic);
    assert.equal((await extend).topic, topic);
    assert.ok(Math.abs(dapp.session.get(topic).expiry - expiry) <= 2, `dapp expiry ${dapp.session.get(topic).expiry}, wallet ${expiry}`);

    // session and pairing ping, both ways
    await step('dapp.ping', dapp.ping({ topic }));
    assert.deepEqual(await wallet.next('ping'), { session: topic });
    const dappPinged = once(dapp, 'session_ping');
    await wallet.ok('ping', topic);
    assert.equal((await dappPinged).topic, topic);
    await step('dapp pairing ping', dapp.core.pairing.ping({ topic: session.pairingTopic }));
    assert.deepEqual(await wallet.next('pairingPing'), { pairing: session.pairingTopic });
    const pairingPinged = once(dapp.core.pairing.events, 'pairing_ping');
    await wallet.ok('pingPairing', session.pairingTopic);
    assert.equal((await pairingPinged).topic, session.pairingTopic);

    // disconnect (dapp side), then the wallet deletes the pairing
    await step('dapp.disconnect', dapp.disconnect({ topic, reason: USER_DISCONNECTED }));
    assert.deepEqual(await wallet.next('deleted'), { session: topic, code: 6000, reason: 'User disconnected.' });
    assert.equal(dapp.session.getAll().length, 0);
    const pairingDeleted = once(dapp.core.pairing.events, 'pairing_delete');
    await wallet.ok('deletePairing', session.pairingTopic);
    assert.equal((await pairingDeleted).topic, session.pairingTopic);

    // reject path
    const again = await dapp.connect({ optionalNamespaces: DAPP_NAMESPACES });
    const rejected = again.approval().then(
      () => null,
      (err) => ({ code: err.code, message: err.message }),
    );
    await wallet.ok('pair', again.uri);
    const proposal2 = await wallet.next('proposal');
    await wallet.ok('reject', proposal2);
    assert.deepEqual(await step('rejected approval()', rejected), USER_REJECTED);
    assert.equal(await wallet.pending('error'), 0, 'the TS wallet reported no errors');
    assert.deepEqual(wallet.errors, []);
  } catch (error) {
    console.error('TS wallet events not taken:', JSON.stringify(await wallet.summary()), 'page errors:', wallet.errors);
    throw error;
  } finally {
    await wallet.close();
    await closeOfficial(dapp);
  }
}

// ---- TS dapp ↔ official wallet (sign-client or WalletKit) -------------------------------

// ACK_RACE: `update()` / `extend()` of sign-client 2.25.0 resolve only after the relay
// acknowledged the publish, and return `acknowledged()`, a delayed promise that forgets
// an acknowledgement which arrived before it was called. The TS dapp answers within
// milliseconds, often before the wallet's publish ack, and `acknowledged()` then waits
// its full five minutes. So the flows check what each side holds instead: the dapp's
// `updated` / `extended` event and the wallet's stored session.

/** The wallet operations, on the sign-client API or on WalletKit's. */
async function officialWallet(kind, relayUrl) {
  if (kind === 'sign-client') {
    const c = await signClient(relayUrl, 'official-wallet');
    return timed('sign-client wallet', {
      name: 'official-wallet',
      events: c,
      sign: c,
      core: c.core,
      pair: (uri) => c.pair({ uri }),
      approve: async (id, namespaces) => {
        const { topic, acknowledged } = await c.approve({ id, namespaces });
        await acknowledged();
        return topic;
      },
      reject: (id, reason) => c.reject({ id, reason }),
      respond: (topic, response) => c.respond({ topic, response }),
      emit: (topic, event, chainId) => c.emit({ topic, event, chainId }),
      // Not `acknowledged()`: see ACK_RACE.
      update: async (topic, namespaces) => void (await c.update({ topic, namespaces })),
      extend: async (topic) => void (await c.extend({ topic })),
      ping: (topic) => c.ping({ topic }),
      disconnect: (topic, reason) => c.disconnect({ topic, reason }),
      close: () => closeOfficial(c),
    });
  }
  const kit = await walletKit(relayUrl, 'walletkit-wallet');
  const c = kit.engine.signClient;
  return timed('walletkit wallet', {
    name: 'walletkit-wallet',
    events: kit,
    sign: c,
    core: kit.core,
    pair: (uri) => kit.pair({ uri }),
    approve: async (id, namespaces) => (await kit.approveSession({ id, namespaces })).topic,
    reject: (id, reason) => kit.rejectSession({ id, reason }),
    respond: (topic, response) => kit.respondSessionRequest({ topic, response }),
    emit: (topic, event, chainId) => kit.emitSessionEvent({ topic, event, chainId }),
    update: async (topic, namespaces) => void (await kit.updateSession({ topic, namespaces })),
    extend: async (topic) => void (await kit.extendSession({ topic })),
    ping: (topic) => c.ping({ topic }),
    disconnect: (topic, reason) => kit.disconnectSession({ topic, reason }),
    close: () => closeOfficial(kit),
  });
}

const TS_REQUEST = {
  requiredNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'] } },
  optionalNamespaces: { eip155: { chains: ['eip155:10'], methods: ['eth_signTypedData_v4'], events: ['chainChanged'] } },
};

async function tsDappOfficialWallet(kind, dappUrl, walletUrl, disconnectBy) {
  const dapp = await openParty(browser, server.base, dappUrl, 'ts-dapp');
  const wallet = await officialWallet(kind, walletUrl);
  const key = Wallet.createRandom();
  try {
    const account = `eip155:1:${key.address}`;
    const { uri, topic: pairing } = await dapp.ok('createPairing');
    await dapp.start('connect', 'propose', pairing, TS_REQUEST);
    const proposalEvent = once(wallet.events, 'session_proposal');
    await wallet.pair(uri);
    const { id, params } = await proposalEvent;
    // What the wallet's conformance check reads: every namespace with chains, methods and events.
    assert.deepEqual(params.requiredNamespaces, TS_REQUEST.requiredNamespaces);
    assert.deepEqual(params.optionalNamespaces, TS_REQUEST.optionalNamespaces);
    assert.deepEqual(params.relays, [{ protocol: 'irn' }]);
    assert.equal(params.pairingTopic, pairing);
    assert.equal(params.proposer.metadata.name, 'ts-dapp');
    assert.match(params.proposer.publicKey, /^[0-9a-f]{64}$/);

    const granted = {
      eip155: {
        chains: ['eip155:1', 'eip155:10'],
        accounts: [account, `eip155:10:${key.address}`],
        methods: ['personal_sign', 'eth_signTypedData_v4'],
        events: ['accountsChanged', 'chainChanged'],
      },
    };
    const topic = await wallet.approve(id, granted);
    const connected = await dapp.result('connect');
    assert.ok(connected.ok, JSON.stringify(connected.error));
    assert.equal(connected.value.session, topic);
    assert.equal(connected.value.pairing, pairing);
    assert.deepEqual(connected.value.namespaces, granted);
    assert.deepEqual(connected.value.accounts, granted.eip155.accounts);
    // The official wallet reads its clock once for the settle it sends and once for the
    // session it stores (seen 1 s apart, as on extend in lib/rust-dapp-flow.mjs).
    const stored = wallet.sign.session.get(topic).expiry;
    assert.ok(Math.abs(connected.value.expiry - stored) <= 1, `dapp took ${connected.value.expiry}, wallet stored ${stored}`);
    assert.equal(connected.value.peerMetadata.name, wallet.name);
    assert.equal(wallet.sign.session.get(topic).peer.metadata.name, 'ts-dapp');

    // request → response (with an expiry), and a request the wallet refuses
    const message = hexlify(toUtf8Bytes('hello from the TS dapp'));
    const request = once(wallet.events, 'session_request');
    const sent = Math.floor(Date.now() / 1000);
    await dapp.start('sign', 'request', topic, 'personal_sign', [message, key.address], 'eip155:1', { expirySecs: 300 });
    const r = await request;
    assert.equal(r.topic, topic);
    const { expiryTimestamp, ...rest } = r.params.request;
    assert.deepEqual({ ...r.params, request: rest }, { request: { method: 'personal_sign', params: [message, key.address] }, chainId: 'eip155:1' });
    assert.ok(expiryTimestamp >= sent + 300 && expiryTimestamp <= sent + 302, `expiryTimestamp ${expiryTimestamp}`);
    const signature = await key.signMessage(getBytes(message));
    await wallet.respond(topic, { id: r.id, jsonrpc: '2.0', result: signature });
    assert.deepEqual(await dapp.result('sign'), { ok: true, value: signature });
    assert.equal(verifyMessage(getBytes(message), signature), key.address);

    const request2 = once(wallet.events, 'session_request');
    await dapp.start('refused', 'request', topic, 'eth_signTypedData_v4', [key.address, '{}'], 'eip155:10');
    const r2 = await request2;
    assert.deepEqual(r2.params, { request: { method: 'eth_signTypedData_v4', params: [key.address, '{}'] }, chainId: 'eip155:10' });
    await wallet.respond(topic, { id: r2.id, jsonrpc: '2.0', error: REQUEST_REJECTED });
    assert.deepEqual(await dapp.result('refused'), { ok: false, error: { name: 'RpcError', ...REQUEST_REJECTED } });

    // event
    await wallet.emit(topic, { name: 'accountsChanged', data: [key.address] }, 'eip155:1');
    assert.deepEqual(await dapp.next('event'), { session: topic, name: 'accountsChanged', data: [key.address], chainId: 'eip155:1' });

    // update: the wallet drops chain 10
    const narrowed = { eip155: { chains: ['eip155:1'], accounts: [account], methods: ['personal_sign'], events: ['accountsChanged'] } };
    await wallet.update(topic, narrowed);
    assert.deepEqual(await dapp.next('updated'), { session: topic, namespaces: narrowed, accounts: [account] });
    assert.deepEqual(wallet.sign.session.get(topic).namespaces, narrowed);

    // extend (the SDKs send `{}`: seven days from now on both sides)
    await wallet.extend(topic);
    const extended = await dapp.next('extended');
    assert.equal(extended.session, topic);
    assert.ok(Math.abs(extended.expiry - wallet.sign.session.get(topic).expiry) <= 2, `dapp ${extended.expiry}, wallet ${wallet.sign.session.get(topic).expiry}`);

    // session and pairing ping, both ways
    const walletPinged = once(wallet.sign, 'session_ping');
    assert.deepEqual(await dapp.call('ping', topic), { ok: true, value: null });
    assert.equal((await walletPinged).topic, topic);
    await wallet.ping(topic);
    assert.deepEqual(await dapp.next('ping'), { session: topic });
    const pairingPinged = once(wallet.core.pairing.events, 'pairing_ping');
    await dapp.ok('pingPairing', pairing);
    assert.equal((await pairingPinged).topic, pairing);
    await step('wallet pairing ping', wallet.core.pairing.ping({ topic: pairing }));
    assert.deepEqual(await dapp.next('pairingPing'), { pairing });

    // disconnect, from the side the test names; then the dapp deletes the pairing
    if (disconnectBy === 'dapp') {
      const deleted = once(wallet.events, 'session_delete');
      await dapp.ok('disconnect', topic);
      assert.equal((await deleted).topic, topic);
    } else {
      await wallet.disconnect(topic, USER_DISCONNECTED);
      assert.deepEqual(await dapp.next('deleted'), { session: topic, code: 6000, reason: 'User disconnected.' });
    }
    assert.equal(wallet.sign.session.getAll().length, 0);
    const after = await dapp.call('request', topic, 'personal_sign', [message, key.address], 'eip155:1');
    assert.match(after.error.message, /unknown session/);
    const pairingDeleted = once(wallet.core.pairing.events, 'pairing_delete');
    await dapp.ok('deletePairing', pairing);
    assert.equal((await pairingDeleted).topic, pairing);

    // reject path
    const second = await dapp.ok('createPairing');
    await dapp.start('connect2', 'propose', second.topic, TS_REQUEST);
    const proposal2 = once(wallet.events, 'session_proposal');
    await wallet.pair(second.uri);
    await wallet.reject((await proposal2).id, USER_REJECTED);
    assert.deepEqual(await dapp.result('connect2'), { ok: false, error: { name: 'RpcError', ...USER_REJECTED } });
    assert.equal(await dapp.pending('error'), 0, 'the TS dapp reported no errors');
    assert.deepEqual(dapp.errors, []);
  } catch (error) {
    console.error('TS dapp events not taken:', JSON.stringify(await dapp.summary()), 'page errors:', dapp.errors);
    throw error;
  } finally {
    await dapp.close();
    await wallet.close();
  }
}

for (const [count, where] of [
  [1, 'one node'],
  [2, 'two meshed nodes'],
]) {
  test(`official sign-client dapp ↔ TS wallet in Chromium, ${where}`, { timeout: 180_000 }, () => onNodes(count, officialDappTsWallet));
  test(`TS dapp in Chromium ↔ official sign-client wallet, ${where}`, { timeout: 180_000 }, () =>
    onNodes(count, (d, w) => tsDappOfficialWallet('sign-client', d, w, 'dapp')),
  );
  test(`TS dapp in Chromium ↔ @reown/walletkit wallet, ${where}`, { timeout: 180_000 }, () =>
    onNodes(count, (d, w) => tsDappOfficialWallet('walletkit', d, w, 'wallet')),
  );
}
