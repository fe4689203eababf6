// Runs inside Chromium: one SessionClient of the bundled TS client (clients/ts/dist)
// on a real relay socket, driven by the test through `window.party`. Every client
// event is queued so the test can take them in order with `next(name)`.
import * as H from '/heliograph-client.js';

const EVENTS = ['proposal', 'connected', 'request', 'updated', 'extended', 'event', 'ping', 'pairingPing', 'deleted', 'pairingDeleted', 'expired', 'error'];
const queues = new Map(EVENTS.map((e) => [e, { items: [], waiters: [] }]));
const running = new Map();
let client;
let relay;

function push(name, value) {
  const q = queues.get(name);
  const waiter = q.waiters.shift();
  if (waiter) waiter(value);
  else q.items.push(value);
}

/** A JSON-safe outcome: {ok: true, value} or {ok: false, error: {name, code, message}}. */
async function outcome(promise) {
  try {
    return { ok: true, value: (await promise) ?? null };
  } catch (e) {
    return { ok: false, error: { name: e?.name ?? 'Error', code: e?.code ?? null, message: String(e?.message ?? e) } };
  }
}

const key = new Uint8Array(32);
crypto.getRandomValues(key);

window.party = {
  /** Opens the relay socket and the session client; returns the wallet address this page signs with. */
  async init(relayUrl, name) {
    relay = await H.RelayClient.connect(relayUrl);
    client = new H.SessionClient(relay, { metadata: { name, description: `heliograph TS ${name}`, url: location.origin, icons: [] }, requestTimeoutMs: 60_000 });
    client.on('proposal', (p) => window.party.proposals.set(p.id, p));
    for (const e of EVENTS) client.on(e, (v) => push(e, e === 'error' ? String(v?.message ?? v) : v));
    document.getElementById('status').textContent = `ready: ${relay.clientId}`;
    return { clientId: relay.clientId, address: H.addressOf(key) };
  },
  /** The next queued event `name` (waits up to `ms`). */
  next(name, ms = 30_000) {
    const q = queues.get(name);
    if (q.items.length) return Promise.resolve(q.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${name} event within ${ms} ms`)), ms);
      q.waiters.push((v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
  },
  /** Events queued and not taken, by name (for failure reports). */
  summary() {
    return Object.fromEntries([...queues].filter(([, q]) => q.items.length).map(([n, q]) => [n, q.items]));
  },
  /** How many events `name` are queued and not taken. */
  pending(name) {
    return queues.get(name).items.length;
  },
  /** Calls `client[method](...args)` and waits for it. */
  call(method, args) {
    return outcome(client[method](...args));
  },
  /** Starts `client[method](...args)` under `id`; `result(id)` waits for it. */
  start(id, method, args) {
    running.set(id, outcome(client[method](...args)));
  },
  result(id) {
    return running.get(id);
  },
  /** (Wallet) approves proposal `id`, denying the values in `deny`, for `accounts`. */
  approve(id, accounts, deny = []) {
    const proposal = { pairing: window.party.proposals.get(id).pairing, id };
    return outcome(client.approve(proposal, (item) => (deny.includes(item.value) ? { outcome: 'denied', reason: 'not in this test' } : { outcome: 'granted' }), accounts));
  },
  proposals: new Map(),
  /** (Wallet) answers a personal_sign request with this page's key. */
  signAndRespond(session, id, message) {
    return outcome(client.respond(session, id, { result: H.personalSign(key, message) }));
  },
  /** Answers a request with an error. */
  refuse(session, id, code, message) {
    return outcome(client.respond(session, id, { error: new H.RpcError(code, message) }));
  },
  close() {
    relay?.close();
  },
};
