// The official @walletconnect/sign-client dapp against our Rust wallet
// (session-protocol/examples/wallet.rs --control), through one node and across
// two meshed nodes: pair → approve → request → response → event → update →
// extend → ping → disconnect (plus pairing ping and delete), and a rejected proposal. Every value each side
// receives is checked against what the other side sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getAddress, getBytes, hexlify, toUtf8Bytes, verifyMessage } from 'ethers';
import { getSdkError } from '@walletconnect/utils';
import { startNodes, stopNodes } from '../../lib/node.mjs';
import { closeClient, signClient, startRustPeer, waitEvent } from '../lib/harness.mjs';

const OPTIONAL = {
  eip155: {
    chains: ['eip155:1', 'eip155:10'],
    methods: ['personal_sign', 'eth_signTypedData_v4'],
    events: ['accountsChanged', 'chainChanged'],
  },
};
const SESSION_PROPERTIES = { heliograph: 'e2e' };
const WEEK = 7 * 24 * 3600;

async function fullFlow(dappUrl, walletUrl, { disconnectFrom = 'dapp' } = {}) {
  const dapp = await signClient(dappUrl, 'dapp');
  const wallet = await startRustPeer('wallet', walletUrl);
  const address = wallet.address;
  const accounts = [`eip155:1:${address}`, `eip155:10:${address}`];
  try {
    // pair + proposal: the Rust wallet reads exactly what the SDK proposed.
    const { uri, approval } = await dapp.connect({ optionalNamespaces: OPTIONAL, sessionProperties: SESSION_PROPERTIES });
    const { pairing } = await wallet.send({ cmd: 'pair', uri });
    assert.equal(pairing, uri.slice(3, 67));
    const proposal = await wallet.next('proposal');
    assert.deepEqual(proposal.requiredNamespaces, {});
    assert.deepEqual(proposal.optionalNamespaces, OPTIONAL);
    assert.deepEqual(proposal.sessionProperties, SESSION_PROPERTIES);
    assert.equal(proposal.proposer.name, 'dapp');
    assert.equal(proposal.pairing, pairing);

    // approve: the SDK's session holds exactly what the wallet granted.
    const approved = await wallet.send({ cmd: 'approve', pairing, id: proposal.id, accounts });
    const session = await approval();
    const topic = session.topic;
    assert.equal(topic, approved.session);
    assert.deepEqual(session.namespaces, { eip155: { ...OPTIONAL.eip155, accounts } });
    assert.deepEqual(session.sessionProperties, SESSION_PROPERTIES);
    assert.equal(session.peer.metadata.name, 'wallet');
    assert.ok(Math.abs(session.expiry - (Math.floor(Date.now() / 1000) + WEEK)) < 30, `expiry ${session.expiry} is 7 days out`);
    const connected = await wallet.next('connected');
    assert.equal(connected.session, topic);
    assert.deepEqual(connected.accounts, accounts);
    assert.equal(connected.expiry, session.expiry);
    assert.equal(connected.peer.name, 'dapp');

    // request → response: personal_sign, signed by the Rust wallet's key.
    const message = hexlify(toUtf8Bytes('hello from the official dapp'));
    const signed = dapp.request({ topic, chainId: 'eip155:10', request: { method: 'personal_sign', params: [message, address] } });
    const request = await wallet.next('request');
    assert.deepEqual(
      { session: request.session, chainId: request.chainId, method: request.method, params: request.params },
      { session: topic, chainId: 'eip155:10', method: 'personal_sign', params: [message, address] },
    );
    const answer = await wallet.send({ cmd: 'respond', session: topic, id: request.id, params: request.params, sign: true });
    const signature = await signed;
    assert.equal(signature, answer.result);
    assert.equal(verifyMessage(getBytes(message), signature), getAddress(address));

    // an error response keeps its code and message
    const typed = dapp.request({ topic, chainId: 'eip155:1', request: { method: 'eth_signTypedData_v4', params: [address, '{}'] } });
    const typedRequest = await wallet.next('request');
    const refusal = { code: 4001, message: 'User rejected the request.' };
    await wallet.send({ cmd: 'respond', session: topic, id: typedRequest.id, error: refusal });
    await assert.rejects(typed, (e) => e.code === refusal.code && e.message === refusal.message);

    // event
    const eventSeen = waitEvent(dapp, 'session_event');
    await wallet.send({ cmd: 'emit', session: topic, chainId: 'eip155:1', name: 'accountsChanged', data: [address] });
    const event = await eventSeen;
    assert.equal(event.topic, topic);
    assert.deepEqual(event.params, { event: { name: 'accountsChanged', data: [address] }, chainId: 'eip155:1' });

    // update: one chain, one method left
    const updated = { eip155: { chains: ['eip155:1'], accounts: [accounts[0]], methods: ['personal_sign'], events: ['accountsChanged'] } };
    const updateSeen = waitEvent(dapp, 'session_update');
    const update = await wallet.send({ cmd: 'update', session: topic, namespaces: updated });
    const updateEvent = await updateSeen;
    assert.equal(updateEvent.topic, topic);
    assert.deepEqual(updateEvent.params.namespaces, updated);
    assert.deepEqual(dapp.session.get(topic).namespaces, updated);
    assert.equal((await wallet.next('response', (l) => l.id === update.id)).result, true);

    // extend
    const extendSeen = waitEvent(dapp, 'session_extend');
    const extended = await wallet.send({ cmd: 'extend', session: topic });
    assert.equal((await extendSeen).topic, topic);
    assert.equal((await wallet.next('response', (l) => l.id === extended.id)).result, true);
    assert.ok(extended.expiry >= session.expiry);
    assert.ok(Math.abs(dapp.session.get(topic).expiry - extended.expiry) < 30);

    // ping, both ways
    await dapp.ping({ topic });
    const ping = await wallet.send({ cmd: 'ping', session: topic });
    assert.equal((await wallet.next('response', (l) => l.id === ping.id)).result, true);

    // pairing ping, both ways
    await dapp.core.pairing.ping({ topic: pairing });
    const pairingPing = await wallet.send({ cmd: 'pairing_ping', pairing });
    const pong = await wallet.next('pairing_ping', (l) => l.id === pairingPing.id);
    assert.deepEqual(pong, { event: 'pairing_ping', pairing, id: pairingPing.id, answered: true });

    // disconnect
    if (disconnectFrom === 'dapp') {
      await dapp.disconnect({ topic, reason: getSdkError('USER_DISCONNECTED') });
      const deleted = await wallet.next('session_delete');
      assert.deepEqual(deleted, { event: 'session_delete', session: topic, reason: 'User disconnected.' });
    } else {
      const deleted = waitEvent(dapp, 'session_delete');
      await wallet.send({ cmd: 'disconnect', session: topic, message: 'User disconnected.' });
      assert.equal((await deleted).topic, topic);
    }
    assert.equal(dapp.session.getAll().length, 0);
    assert.equal((await wallet.send({ cmd: 'session', session: topic })).info, null);

    // pairing delete from the dapp
    await dapp.core.pairing.disconnect({ topic: pairing });
    assert.deepEqual(await wallet.next('pairing_delete'), { event: 'pairing_delete', pairing, reason: 'User disconnected.' });
  } finally {
    await closeClient(dapp);
    await wallet.stop();
  }
}

async function rejectFlow(url) {
  const dapp = await signClient(url, 'dapp');
  const wallet = await startRustPeer('wallet', url);
  try {
    const { uri, approval } = await dapp.connect({ optionalNamespaces: OPTIONAL });
    const { pairing } = await wallet.send({ cmd: 'pair', uri });
    const proposal = await wallet.next('proposal');
    const reason = getSdkError('USER_REJECTED_CHAINS');
    await wallet.send({ cmd: 'reject', pairing, id: proposal.id, code: reason.code, message: reason.message });
    await assert.rejects(approval(), (e) => e.code === 5001 && e.message === 'User rejected chains.');
    assert.equal(dapp.session.getAll().length, 0);
  } finally {
    await closeClient(dapp);
    await wallet.stop();
  }
}

test('official dapp ↔ Rust wallet on one node: full session', { timeout: 120_000 }, async () => {
  const nodes = await startNodes(1);
  try {
    await fullFlow(nodes[0].relayUrl, nodes[0].relayUrl);
  } finally {
    await stopNodes(nodes);
  }
});

test('official dapp on node A ↔ Rust wallet on node B (meshed): full session', { timeout: 180_000 }, async () => {
  const nodes = await startNodes(2, { mesh: true });
  try {
    await fullFlow(nodes[0].relayUrl, nodes[1].relayUrl, { disconnectFrom: 'wallet' });
  } finally {
    await stopNodes(nodes);
  }
});

test('official dapp ↔ Rust wallet: the wallet rejects, the dapp gets 5001', { timeout: 120_000 }, async () => {
  const nodes = await startNodes(1);
  try {
    await rejectFlow(nodes[0].relayUrl);
  } finally {
    await stopNodes(nodes);
  }
});

test('official dapp ↔ Rust wallet: a dapp asking with a chain key ("eip155:1") gets a working session', { timeout: 120_000 }, async () => {
  const nodes = await startNodes(1);
  const dapp = await signClient(nodes[0].relayUrl, 'dapp');
  const wallet = await startRustPeer('wallet', nodes[0].relayUrl);
  try {
    const asked = { 'eip155:1': { methods: ['personal_sign'], events: ['chainChanged'] } };
    const { uri, approval } = await dapp.connect({ optionalNamespaces: asked });
    const { pairing } = await wallet.send({ cmd: 'pair', uri });
    const proposal = await wallet.next('proposal');
    // sign-client 2.25 rewrites chain keys into `eip155: {chains}` before sending
    // (the Rust reading of chain keys is covered by tests/vectors/walletconnect.json).
    const wire = { eip155: { chains: ['eip155:1'], ...asked['eip155:1'] } };
    assert.deepEqual(proposal.optionalNamespaces, wire);
    const account = `eip155:1:${wallet.address}`;
    await wallet.send({ cmd: 'approve', pairing, id: proposal.id, accounts: [account] });
    const session = await approval();
    assert.deepEqual(session.namespaces, { eip155: { ...wire.eip155, accounts: [account] } });
    const message = hexlify(toUtf8Bytes('inline chain key'));
    const signed = dapp.request({ topic: session.topic, chainId: 'eip155:1', request: { method: 'personal_sign', params: [message, wallet.address] } });
    const request = await wallet.next('request');
    assert.equal(request.chainId, 'eip155:1');
    await wallet.send({ cmd: 'respond', session: session.topic, id: request.id, params: request.params, sign: true });
    assert.equal(verifyMessage(getBytes(message), await signed), getAddress(wallet.address));
  } finally {
    await closeClient(dapp);
    await wallet.stop();
    await stopNodes(nodes);
  }
});
