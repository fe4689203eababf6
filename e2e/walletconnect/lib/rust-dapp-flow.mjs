// The Rust dapp (session-protocol/examples/dapp.rs --control) against an
// official wallet SDK behind the harness's wallet interface (signClientWallet
// or walletKitWallet): pair → approve → request → response → event → update →
// extend → ping → disconnect (plus pairing ping and delete), and a rejected proposal. Every value each side
// receives is checked against what the other side sent.
import assert from 'node:assert/strict';
import { buildApprovedNamespaces, getSdkError } from '@walletconnect/utils';
import { getAddress, getBytes, hexlify, toUtf8Bytes, verifyMessage } from 'ethers';
import { isDeepStrictEqual } from 'node:util';
import { waitFor, withTimeout } from '../../lib/node.mjs';
import { newAccount, startRustPeer, waitEvent } from './harness.mjs';

// What the Rust dapp asks for: the required namespace has no `events` on purpose
// (the library must put `events: []` on the wire: issue 16's root cause).
const REQUIRED = { eip155: { chains: ['eip155:1'], methods: ['personal_sign'] } };
const OPTIONAL = { eip155: { chains: ['eip155:10'], methods: ['eth_signTypedData_v4'], events: ['accountsChanged'] } };
const SESSION_PROPERTIES = { heliograph: 'e2e' };

/** Step labels on stderr with HELIOGRAPH_E2E_TRACE=1, to see where a flow stopped. */
const trace = (step) => process.env.HELIOGRAPH_E2E_TRACE && console.error(`[rust-dapp-flow] ${step}`);

/** An SDK call that must settle within 30 s; a hang fails naming the call. */
const sdk = (what, promise) => withTimeout(promise, 30_000, `wallet SDK ${what}`);

/** What the official wallet must see: every namespace with chains, methods and events. */
const WIRE_REQUIRED = { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: [] } };

/**
 * @param {string} dappUrl relay of the Rust dapp
 * @param {object} wallet a harness wallet interface, already initialised on its relay
 * @param {{disconnectFrom: 'dapp'|'wallet'}} options who ends the session
 */
export async function rustDappFullFlow(dappUrl, wallet, { disconnectFrom = 'dapp' } = {}) {
  const dapp = await startRustPeer('dapp', dappUrl);
  const account = newAccount();
  const address = account.address;
  try {
    const { uri, pairing } = await dapp.send({ cmd: 'create_pairing' });
    const { id } = await dapp.send({
      cmd: 'propose', pairing, requiredNamespaces: REQUIRED, optionalNamespaces: OPTIONAL, sessionProperties: SESSION_PROPERTIES,
    });
    const proposalSeen = wallet.proposal();
    await sdk('pair', wallet.pair(uri));
    const proposal = await proposalSeen;
    assert.equal(proposal.id, id);
    const p = proposal.params;
    assert.deepEqual(p.requiredNamespaces, WIRE_REQUIRED);
    assert.deepEqual(p.optionalNamespaces, OPTIONAL);
    assert.deepEqual(p.sessionProperties, SESSION_PROPERTIES);
    assert.deepEqual(p.relays, [{ protocol: 'irn' }]);
    assert.equal(p.pairingTopic, pairing);
    assert.equal(p.proposer.metadata.name, 'dapp');
    const now = Math.floor(Date.now() / 1000);
    assert.ok(p.expiryTimestamp > now && p.expiryTimestamp <= now + 300, `proposal expiry ${p.expiryTimestamp} within 5 min`);

    // The wallet builds its answer the way wallets do, with the SDK's own helper.
    const accounts = [`eip155:1:${address}`, `eip155:10:${address}`];
    const namespaces = buildApprovedNamespaces({
      proposal: p,
      supportedNamespaces: {
        eip155: {
          chains: ['eip155:1', 'eip155:10'],
          methods: ['personal_sign', 'eth_signTypedData_v4'],
          events: ['accountsChanged', 'chainChanged'],
          accounts,
        },
      },
    });
    const granted = {
      eip155: { chains: ['eip155:1', 'eip155:10'], methods: ['personal_sign', 'eth_signTypedData_v4'], events: ['accountsChanged'], accounts },
    };
    assert.deepEqual(namespaces, granted);
    trace('approve');
    const session = await sdk('approve', wallet.approve({ id, namespaces, sessionProperties: SESSION_PROPERTIES }));
    const topic = session.topic;
    const connected = await dapp.next('connected');
    assert.equal(connected.session, topic);
    assert.equal(connected.pairing, pairing);
    assert.deepEqual(connected.accounts, accounts);
    assert.deepEqual(connected.namespaces, granted);
    // The SDK wallet recomputes its own record's expiry after the settle is
    // published, so it may be a second later than the settle the dapp got.
    assert.ok(Math.abs(connected.expiry - session.expiry) <= 2, `expiry ${connected.expiry} vs the wallet's ${session.expiry}`);
    assert.equal(connected.peer.name, wallet.name);

    trace('request → response');
    // request → response
    const message = hexlify(toUtf8Bytes('hello from the Rust dapp'));
    const requestSeen = wallet.request();
    const sent = await dapp.send({ cmd: 'request', session: topic, chainId: 'eip155:1', method: 'personal_sign', params: [message, address] });
    const request = await requestSeen;
    assert.equal(request.id, sent.id);
    assert.equal(request.topic, topic);
    assert.deepEqual(request.params, { request: { method: 'personal_sign', params: [message, address] }, chainId: 'eip155:1' });
    const signature = await account.signMessage(getBytes(message));
    await sdk('respond', wallet.respond({ topic, response: { id: request.id, jsonrpc: '2.0', result: signature } }));
    const response = await dapp.next('response', (l) => l.id === sent.id);
    assert.equal(response.result, signature);
    assert.equal(verifyMessage(getBytes(message), response.result), getAddress(address));

    trace('an error response keeps');
    // an error response keeps its code and message
    const refusedSeen = wallet.request();
    const refused = await dapp.send({ cmd: 'request', session: topic, chainId: 'eip155:10', method: 'eth_signTypedData_v4', params: [address, '{}'] });
    const refusedRequest = await refusedSeen;
    assert.equal(refusedRequest.params.chainId, 'eip155:10');
    const rejection = getSdkError('USER_REJECTED');
    await sdk('respond', wallet.respond({ topic, response: { id: refusedRequest.id, jsonrpc: '2.0', error: rejection } }));
    const refusedAnswer = await dapp.next('response', (l) => l.id === refused.id);
    assert.deepEqual(refusedAnswer.error, { code: 5000, message: 'User rejected.' });

    trace('event');
    // event
    await sdk('emit', wallet.emit({ topic, event: { name: 'accountsChanged', data: [address] }, chainId: 'eip155:1' }));
    const event = await dapp.next('session_event');
    assert.deepEqual(event, { event: 'session_event', session: topic, chainId: 'eip155:1', name: 'accountsChanged', data: [address] });

    trace('update');
    // update
    const updated = { eip155: { chains: ['eip155:1'], accounts: [accounts[0]], methods: ['personal_sign'], events: ['accountsChanged'] } };
    await sdk('update', wallet.update({ topic, namespaces: updated }));
    const update = await dapp.next('session_update');
    assert.deepEqual(update.namespaces, updated);
    assert.deepEqual((await dapp.send({ cmd: 'session', session: topic })).info.namespaces, updated);
    // The wallet stores the update once the dapp answered it (ACK_RACE in harness.mjs).
    await waitFor(() => isDeepStrictEqual(wallet.session(topic)?.namespaces, updated), { what: 'the wallet stores the update' });

    trace('extend:');
    // extend: the dapp takes the wallet's new expiry
    await sdk('extend', wallet.extend({ topic }));
    const extended = await dapp.next('session_extend');
    // The official wallet computes the expiry it sends and the one it stores with two
    // calls of its clock (seen 1 s apart when a second boundary falls between them).
    const stored = wallet.session(topic).expiry;
    assert.ok(Math.abs(extended.expiry - stored) <= 1, `dapp took ${extended.expiry}, wallet stored ${stored}`);
    assert.equal((await dapp.send({ cmd: 'session', session: topic })).info.expiry, extended.expiry);

    trace('ping, both');
    // ping, both ways
    const ping = await dapp.send({ cmd: 'ping', session: topic });
    assert.equal((await dapp.next('response', (l) => l.id === ping.id)).result, true);
    await sdk('ping', wallet.ping({ topic }));

    trace('pairing ping');
    // pairing ping, both ways
    const pairingPing = await dapp.send({ cmd: 'pairing_ping', pairing });
    const pong = await dapp.next('pairing_ping', (l) => l.id === pairingPing.id);
    assert.deepEqual(pong, { event: 'pairing_ping', pairing, id: pairingPing.id, answered: true });
    await sdk('pairing ping', wallet.client.core.pairing.ping({ topic: pairing }));

    trace('disconnect');
    // disconnect
    if (disconnectFrom === 'dapp') {
      const deleted = wallet.deleted();
      await dapp.send({ cmd: 'disconnect', session: topic, message: 'User disconnected.' });
      assert.equal((await deleted).topic, topic);
      assert.equal(wallet.session(topic), undefined);
    } else {
      await sdk('disconnect', wallet.disconnect({ topic, reason: getSdkError('USER_DISCONNECTED') }));
      const deleted = await dapp.next('session_delete');
      assert.deepEqual(deleted, { event: 'session_delete', session: topic, reason: 'User disconnected.' });
    }
    assert.equal((await dapp.send({ cmd: 'session', session: topic })).info, null);

    // pairing delete from the Rust dapp
    const pairingDeleted = waitEvent(wallet.client.core.pairing.events, 'pairing_delete');
    await dapp.send({ cmd: 'pairing_delete', pairing, message: 'User disconnected.' });
    assert.equal((await pairingDeleted).topic, pairing);
  } finally {
    await dapp.stop();
  }
}

/** The official wallet rejects the Rust dapp's proposal with 5100 (unsupported chains). */
export async function rustDappRejectFlow(dappUrl, wallet) {
  const dapp = await startRustPeer('dapp', dappUrl);
  try {
    const { uri, pairing } = await dapp.send({ cmd: 'create_pairing' });
    const { id } = await dapp.send({ cmd: 'propose', pairing, requiredNamespaces: REQUIRED, optionalNamespaces: {} });
    const proposalSeen = wallet.proposal();
    await sdk('pair', wallet.pair(uri));
    assert.equal((await proposalSeen).id, id);
    await sdk('reject', wallet.reject({ id, reason: getSdkError('UNSUPPORTED_CHAINS') }));
    const failed = await dapp.next('proposal_failed');
    assert.equal(failed.id, id);
    assert.equal(failed.pairing, pairing);
    assert.equal(failed.code, 5100);
    assert.equal(failed.error, 'proposal rejected (5100): Unsupported chains.');
  } finally {
    await dapp.stop();
  }
}

/** The Rust dapp asks with a chain key; the wallet approves with `buildApprovedNamespaces` and signs. */
export async function rustDappChainKeyFlow(dappUrl, wallet) {
  const dapp = await startRustPeer('dapp', dappUrl);
  const account = newAccount();
  try {
    const { uri, pairing } = await dapp.send({ cmd: 'create_pairing' });
    const required = { 'eip155:1': { methods: ['personal_sign'] } };
    const { id } = await dapp.send({ cmd: 'propose', pairing, requiredNamespaces: required, optionalNamespaces: {} });
    const proposalSeen = wallet.proposal();
    await sdk('pair', wallet.pair(uri));
    const { params } = await proposalSeen;
    assert.deepEqual(params.requiredNamespaces, { 'eip155:1': { methods: ['personal_sign'], events: [] } });
    const accounts = [`eip155:1:${account.address}`];
    const namespaces = buildApprovedNamespaces({
      proposal: params,
      supportedNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'], accounts } },
    });
    const session = await sdk('approve', wallet.approve({ id, namespaces }));
    const connected = await dapp.next('connected');
    assert.equal(connected.session, session.topic);
    assert.deepEqual(connected.accounts, accounts);
    const message = hexlify(toUtf8Bytes('chain key'));
    const requestSeen = wallet.request();
    const sent = await dapp.send({ cmd: 'request', session: session.topic, chainId: 'eip155:1', method: 'personal_sign', params: [message, account.address] });
    const request = await requestSeen;
    await sdk('respond', wallet.respond({ topic: session.topic, response: { id: request.id, jsonrpc: '2.0', result: await account.signMessage(getBytes(message)) } }));
    const response = await dapp.next('response', (l) => l.id === sent.id);
    assert.equal(verifyMessage(getBytes(message), response.result), getAddress(account.address));
  } finally {
    await dapp.stop();
  }
}
