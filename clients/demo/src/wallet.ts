// The wallet page: pairs from a pasted URI, shows the proposal with a checkbox per
// item (required items marked), approves with per-item answers, signs personal_sign
// requests with a demo secp256k1 key, and answers the secure chat.
import { RpcError, SIGNALING_METHODS, addressOf, hexToBytes, personalSign, type IncomingProposal, type IncomingRequest, type Item, type SessionClient } from '@heliograph/client';
import { chatCard, connect, errorBox, frame, h, sasBox } from './common';

// A fixed, public demo key: never use it for anything of value.
const DEMO_KEY = hexToBytes('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318');
const ADDRESS = addressOf(DEMO_KEY);

const { main, status } = frame('Wallet');

const uriBox = h('textarea', { id: 'pair-input', placeholder: 'wc:…@2?expiryTimestamp=…&relay-protocol=irn&symKey=…' });
const pairBtn = h('button', { id: 'pair-button', disabled: true }, 'Pair');
const pairErr = errorBox('pair-error');
const pairCard = h(
  'section',
  { class: 'card', id: 'pair-card' },
  h('h2', {}, 'Pair with a dapp'),
  h('p', { class: 'sub' }, 'Paste the link the dapp shows (or scan its QR code).'),
  uriBox,
  h('div', { class: 'row' }, pairBtn),
  pairErr.el,
);

const accountCard = h(
  'section',
  { class: 'card', id: 'account-card' },
  h('h2', {}, 'Demo account'),
  h('p', { class: 'sub' }, 'A built-in secp256k1 key for the demo.'),
  h('dl', { class: 'kv' }, h('dt', {}, 'Address'), h('dd', { class: 'mono', id: 'wallet-address' }, ADDRESS), h('dt', {}, 'Chain'), h('dd', {}, 'eip155:1 (Ethereum)')),
);

const proposalCard = h('section', { class: 'card wide', id: 'proposal-card', hidden: true });
const sessionSas = sasBox('session-sas', 'Session security code');
const requests = h('div', { id: 'requests' }, h('p', { class: 'empty' }, 'No pending requests.'));
const sessionCard = h(
  'section',
  { class: 'card', id: 'session-card', hidden: true },
  h('h2', {}, 'Connected'),
  h('p', { class: 'sub', id: 'session-peer' }, ''),
  sessionSas.el,
);
const requestCard = h('section', { class: 'card', id: 'request-card', hidden: true }, h('h2', {}, 'Requests'), h('p', { class: 'sub' }, 'What the dapp asks you to do.'), requests);
const chat = chatCard(true);
main.append(pairCard, accountCard, proposalCard, sessionCard, requestCard, chat.el);

const CALL_METHODS = new Set<string>(SIGNALING_METHODS);

function describe(item: Item): string {
  if (item.kind === 'methods' && CALL_METHODS.has(item.value)) return `${item.value} (secure chat)`;
  return item.value;
}

function showProposal(client: SessionClient, p: IncomingProposal): void {
  const meta = (p.proposerMetadata ?? {}) as { name?: string; url?: string };
  const boxes: [Item, HTMLInputElement][] = [];
  const list = h(
    'ul',
    { class: 'items', id: 'proposal-items' },
    ...p.items.map((item) => {
      const box = h('input', { type: 'checkbox', checked: true, 'data-item': `${item.namespace}/${item.kind}/${item.value}`, 'data-required': String(item.required) });
      boxes.push([item, box]);
      return h('li', { class: item.required ? 'required' : '' }, box, h('span', { class: 'kind' }, item.kind), h('span', { class: 'mono' }, describe(item)), h('span', { class: 'tag' }, item.required ? 'required' : 'optional'));
    }),
  );
  const err = errorBox('proposal-error');
  const approve = h('button', { id: 'approve-button' }, 'Approve');
  const reject = h('button', { id: 'reject-button', class: 'danger' }, 'Reject');
  proposalCard.replaceChildren(
    h('h2', {}, `${meta.name ?? 'A dapp'} wants to connect`),
    h('p', { class: 'sub' }, `${meta.url ?? ''} asks for these permissions. Unchecking a required item refuses the connection.`),
    list,
    h('div', { class: 'row' }, approve, reject),
    err.el,
  );
  proposalCard.hidden = false;
  pairCard.hidden = true;
  approve.addEventListener('click', async () => {
    approve.disabled = reject.disabled = true;
    const chosen = new Map(boxes.map(([item, box]) => [`${item.namespace}/${item.kind}/${item.value}`, box.checked]));
    try {
      const c = await client.approve(p, (item) => (chosen.get(`${item.namespace}/${item.kind}/${item.value}`) ? { outcome: 'granted' } : { outcome: 'denied', reason: 'declined by the user' }), [`eip155:1:${ADDRESS}`]);
      proposalCard.hidden = true;
      sessionCard.hidden = false;
      requestCard.hidden = false;
      (document.getElementById('session-peer') as HTMLElement).textContent = `with ${meta.name ?? 'the dapp'} (${meta.url ?? ''})`;
      sessionSas.set(c.shortAuthString);
      const methods = new Set(Object.values(c.namespaces).flatMap((ns) => ns.methods ?? []));
      if (SIGNALING_METHODS.every((m) => methods.has(m))) await chat.bind(client, c.session);
    } catch (e) {
      err.show(e instanceof Error ? e.message : String(e));
    }
  });
  reject.addEventListener('click', async () => {
    approve.disabled = reject.disabled = true;
    await client.reject(p);
    err.show('You rejected the connection.');
  });
}

function showRequest(client: SessionClient, r: IncomingRequest): void {
  if (CALL_METHODS.has(r.method)) return; // handled by the chat
  requests.querySelector('.empty')?.remove();
  const answer = (outcome: { result: unknown } | { error: RpcError }) => {
    client.respond(r.session, r.id, outcome).catch((e: unknown) => console.error('the answer was not sent:', e));
    card.remove();
    if (!requests.children.length) requests.append(h('p', { class: 'empty' }, 'No pending requests.'));
  };
  let body: string;
  let sign: (() => void) | undefined;
  if (r.method === 'personal_sign' && Array.isArray(r.params) && typeof r.params[0] === 'string') {
    const raw = r.params[0] as string;
    body = /^0x([0-9a-fA-F]{2})*$/.test(raw) ? new TextDecoder().decode(hexToBytes(raw.slice(2))) : raw;
    sign = () => answer({ result: personalSign(DEMO_KEY, raw) });
  } else {
    body = JSON.stringify(r.params, null, 2);
  }
  const card = h(
    'div',
    { class: 'request', 'data-method': r.method },
    h('strong', {}, r.method === 'personal_sign' ? 'Signature request' : r.method),
    h('span', { class: 'muted' }, ` on ${r.chainId ?? 'any chain'}`),
    h('pre', {}, body),
    h(
      'div',
      { class: 'row' },
      ...(sign ? [h('button', { id: 'sign-approve', onclick: sign }, 'Sign')] : []),
      h('button', { class: 'danger', id: 'sign-reject', onclick: () => answer({ error: new RpcError(4001, 'User rejected the request.') }) }, 'Reject'),
    ),
  );
  requests.append(card);
}

async function main_(): Promise<void> {
  const client = await connect(status, { name: 'Heliograph demo wallet', description: 'Demo wallet', url: location.origin, icons: [] });
  client.on('proposal', (p) => showProposal(client, p));
  client.on('request', (r) => showRequest(client, r));
  client.on('error', (e) => console.warn('session:', e.message));
  pairBtn.disabled = false;
  pairBtn.addEventListener('click', async () => {
    pairErr.clear();
    pairBtn.disabled = true;
    try {
      await client.pair(uriBox.value.trim());
      pairBtn.textContent = 'Paired: waiting for the proposal…';
    } catch (e) {
      pairBtn.disabled = false;
      pairErr.show(e instanceof Error ? e.message : String(e));
    }
  });
}

main_().catch((e: unknown) => {
  pairErr.show(e instanceof Error ? e.message : String(e));
  console.error(e);
});
