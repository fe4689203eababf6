// The Rust dapp against the official @reown/walletkit wallet (1.6.0): one
// node, two meshed nodes, and the reject path (flows in lib/rust-dapp-flow.mjs).
import { test } from 'node:test';
import { startNodes, stopNodes } from '../../lib/node.mjs';
import { walletKit, walletKitWallet } from '../lib/harness.mjs';
import { rustDappFullFlow, rustDappRejectFlow } from '../lib/rust-dapp-flow.mjs';

async function withWallet(url, body) {
  const wallet = walletKitWallet(await walletKit(url, 'walletkit'));
  try {
    await body(wallet);
  } finally {
    await wallet.close();
  }
}

test('Rust dapp ↔ WalletKit wallet on one node: full session', { timeout: 120_000 }, async () => {
  const nodes = await startNodes(1);
  try {
    await withWallet(nodes[0].relayUrl, (wallet) => rustDappFullFlow(nodes[0].relayUrl, wallet));
  } finally {
    await stopNodes(nodes);
  }
});

test('Rust dapp on node A ↔ WalletKit wallet on node B (meshed): full session', { timeout: 180_000 }, async () => {
  const nodes = await startNodes(2, { mesh: true });
  try {
    await withWallet(nodes[1].relayUrl, (wallet) => rustDappFullFlow(nodes[0].relayUrl, wallet, { disconnectFrom: 'wallet' }));
  } finally {
    await stopNodes(nodes);
  }
});

test('Rust dapp ↔ WalletKit wallet: the wallet rejects with 5100', { timeout: 120_000 }, async () => {
  const nodes = await startNodes(1);
  try {
    await withWallet(nodes[0].relayUrl, (wallet) => rustDappRejectFlow(nodes[0].relayUrl, wallet));
  } finally {
    await stopNodes(nodes);
  }
});
