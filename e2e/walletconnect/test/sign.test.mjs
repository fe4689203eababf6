// The official @walletconnect/sign-client, as dapp and as wallet, against
// real heliograph processes: one node, two nodes, and a dropped socket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeClient, newAccount, pair, personalSign, runWallet, signClient, startNode, waitForPeers } from '../lib/harness.mjs';

async function fullFlow(dappUrl, walletUrl) {
  const dapp = await signClient(dappUrl, 'dapp');
  const wallet = await signClient(walletUrl, 'wallet');
  const account = newAccount();
  runWallet(wallet, account);
  try {
    const session = await pair(dapp, wallet);
    assert.deepEqual(session.namespaces.eip155.accounts, [`eip155:1:${account.address}`]);
    assert.equal(wallet.session.getAll().length, 1, 'the wallet holds the session too');

    const signer = await personalSign(dapp, session, account, 'hello heliograph');
    assert.equal(signer, account.address, 'the dapp recovers the wallet address from the signature');

    await dapp.ping({ topic: session.topic });

    const deleted = new Promise((resolve) => wallet.once('session_delete', resolve));
    await dapp.disconnect({ topic: session.topic, reason: { code: 6000, message: 'User disconnected.' } });
    const event = await deleted;
    assert.equal(event.topic, session.topic);
    assert.equal(dapp.session.getAll().length, 0);
  } finally {
    await closeClient(dapp);
    await closeClient(wallet);
  }
}

test('dapp and wallet on one node: connect, pair, approve, personal_sign, ping, disconnect', { timeout: 120_000 }, async () => {
  const node = await startNode();
  try {
    await fullFlow(node.relayUrl, node.relayUrl);
  } finally {
    await node.stop();
  }
});

test('dapp on node A, wallet on node B of a two-node mesh', { timeout: 120_000 }, async () => {
  const a = await startNode();
  const b = await startNode(['--bootstrap', a.addr]);
  try {
    await waitForPeers(a, 1);
    await fullFlow(a.relayUrl, b.relayUrl);
  } finally {
    await b.stop();
    await a.stop();
  }
});

test('the wallet socket drops mid-session and the next request is still answered', { timeout: 120_000 }, async () => {
  const node = await startNode();
  const dapp = await signClient(node.relayUrl, 'dapp');
  const wallet = await signClient(node.relayUrl, 'wallet');
  const account = newAccount();
  runWallet(wallet, account);
  try {
    const session = await pair(dapp, wallet);
    assert.equal(await personalSign(dapp, session, account, 'before the drop'), account.address);

    const socket = wallet.core.relayer.provider.connection.socket;
    assert.ok(socket, 'the wallet has an open socket');
    const reconnected = new Promise((resolve) => wallet.core.relayer.once('relayer_connect', resolve));
    // Node 22's own WebSocket (which the client uses when there is one) has no terminate():
    // an abnormal close code is what a dropped connection looks like to the client there.
    if (typeof socket.terminate === 'function') socket.terminate();
    else socket.close(4000, 'test: connection dropped');
    await reconnected;

    assert.equal(await personalSign(dapp, session, account, 'after the drop'), account.address);
  } finally {
    await closeClient(dapp);
    await closeClient(wallet);
    await node.stop();
  }
});
