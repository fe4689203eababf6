// The official @walletconnect/sign-client as a dapp on a Heliograph bridge:
// connect (wc_proposeSession), print the URI, wait for the wallet's approval,
// ask for personal_sign, print the signature, disconnect. One JSON object per
// line on stdout. Usage: node signclient_dapp.mjs ws://127.0.0.1:PORT
process.env.DISABLE_GLOBAL_CORE = 'true';
const { SignClient } = await import('@walletconnect/sign-client');

class MemoryStorage {
  constructor() { this.map = new Map(); }
  async getKeys() { return [...this.map.keys()]; }
  async getEntries() { return [...this.map.entries()]; }
  async getItem(key) { return this.map.get(key); }
  async setItem(key, value) { this.map.set(key, value); }
  async removeItem(key) { this.map.delete(key); }
}

const out = (o) => console.log(JSON.stringify(o));
const relayUrl = process.argv[2];
const timer = setTimeout(() => { out({ event: 'failed', error: 'timed out' }); process.exit(2); }, 60000);

try {
  const dapp = await SignClient.init({
    projectId: '0123456789abcdef0123456789abcdef',
    relayUrl,
    storage: new MemoryStorage(),
    logger: 'error',
    metadata: { name: 'js-dapp', description: 'official sign-client', url: 'http://localhost', icons: [] },
  });
  const { uri, approval } = await dapp.connect({
    optionalNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'] } },
  });
  out({ event: 'uri', uri });
  const session = await approval();
  const accounts = session.namespaces.eip155.accounts;
  out({ event: 'connected', topic: session.topic, accounts });
  const address = accounts[0].split(':')[2];
  const text = 'hello from the official sign-client';
  const message = '0x' + Buffer.from(text).toString('hex');
  const signature = await dapp.request({
    topic: session.topic,
    chainId: 'eip155:1',
    request: { method: 'personal_sign', params: [message, address] },
  });
  out({ event: 'signature', text, signature, address });
  await dapp.disconnect({ topic: session.topic, reason: { code: 6000, message: 'done' } });
  out({ event: 'disconnected' });
  clearTimeout(timer);
  process.exit(0);
} catch (e) {
  out({ event: 'failed', error: String(e && e.stack || e) });
  process.exit(1);
}
