// The dapp page: shows a pairing QR code and URI, proposes a session (required and
// optional items), shows what was granted, asks for a personal_sign signature and
// starts a secure chat over WebRTC.
import QRCode from 'qrcode';
import { RpcError, SIGNALING_METHODS, bytesToHex, recoverAddress, utf8ToBytes, type ConnectResult } from '@heliograph/client';
import { chatCard, connect, errorBox, frame, h, sasBox } from './common';

const { main, status } = frame('Dapp');
const params = new URLSearchParams(location.search);

const canvas = h('canvas', { id: 'pair-qr' });
const uriInput = h('input', { id: 'pair-uri', readonly: true, value: '' });
const copy = h('button', { class: 'secondary', onclick: () => void navigator.clipboard?.writeText(uriInput.value) }, 'Copy');
const pairState = h('span', { class: 'pill warn', id: 'pair-state' }, 'waiting for relay');
const pairErr = errorBox('pair-error');
const pairCard = h(
  'section',
  { class: 'card', id: 'pair-card' },
  h('div', { class: 'row', style: 'margin-top:0;justify-content:space-between' }, h('h2', {}, 'Connect a wallet'), pairState),
  h('p', { class: 'sub' }, 'Scan the code with your wallet, or paste the link into it.'),
  h('div', { class: 'qr' }, canvas),
  h('div', { class: 'uri' }, uriInput, copy),
  pairErr.el,
);

const howCard = h(
  'section',
  { class: 'card', id: 'how-card' },
  h('h2', {}, 'What happens next'),
  h('p', { class: 'sub' }, 'The relay only ever sees encrypted envelopes, on topics derived from random keys.'),
  h(
    'ol',
    { class: 'steps' },
    h('li', {}, h('strong', {}, 'Pair. '), 'Your wallet joins with the one-time key in the code.'),
    h('li', {}, h('strong', {}, 'Approve. '), 'It grants or declines each permission: signing is required, the rest is optional.'),
    h('li', {}, h('strong', {}, 'Compare. '), 'Both screens show the same 6-digit code. A different code means someone is in the middle.'),
    h('li', {}, h('strong', {}, 'Talk. '), 'Sign a message, or open an end-to-end chat that goes peer to peer over WebRTC.'),
  ),
);

const sessionSas = sasBox('session-sas', 'Session security code');
const accounts = h('dd', { id: 'session-account', class: 'mono' }, '—');
const items = h('ul', { class: 'items', id: 'granted-items' });
const sessionCard = h(
  'section',
  { class: 'card', id: 'session-card', hidden: true },
  h('h2', {}, 'Connected'),
  h('p', { class: 'sub' }, 'What the wallet granted, item by item.'),
  h('dl', { class: 'kv' }, h('dt', {}, 'Account'), accounts),
  h('div', { style: 'margin:14px 0' }, items),
  sessionSas.el,
);

const message = h('textarea', { id: 'sign-message' }, 'Welcome to the Heliograph demo.\nSign to prove you own this account.');
const signBtn = h('button', { id: 'sign-button' }, 'Request signature');
const signResult = h('dl', { class: 'kv', id: 'sign-result', hidden: true });
const signErr = errorBox('sign-error');
const signCard = h(
  'section',
  { class: 'card', id: 'sign-card', hidden: true },
  h('h2', {}, 'Sign a message'),
  h('p', { class: 'sub' }, 'personal_sign (EIP-191) on eip155:1; the signature is checked here by recovering the address.'),
  message,
  h('div', { class: 'row' }, signBtn),
  signResult,
  signErr.el,
);

const chat = chatCard(true);
main.append(pairCard, howCard, sessionCard, signCard, chat.el);

function showSession(c: ConnectResult): void {
  pairCard.hidden = true;
  howCard.hidden = true;
  sessionCard.hidden = false;
  signCard.hidden = false;
  accounts.textContent = c.accounts.join(', ') || '—';
  sessionSas.set(c.shortAuthString);
  items.replaceChildren(
    ...c.results.map((r) =>
      h(
        'li',
        { class: (r.outcome === 'granted' ? 'granted' : 'denied') + (r.required ? ' required' : ''), 'data-item': `${r.namespace}/${r.kind}/${r.value}`, 'data-outcome': r.outcome },
        h('span', { class: 'kind' }, r.kind),
        h('span', { class: 'mono' }, r.value),
        h('span', { class: 'tag' }, r.outcome === 'granted' ? (r.required ? 'required ✓' : 'granted ✓') : `denied: ${r.outcome === 'denied' ? r.reason : ''}`),
      ),
    ),
  );
}

async function main_(): Promise<void> {
  const client = await connect(status, { name: 'Heliograph demo dapp', description: 'Pairs, signs and chats', url: location.origin, icons: [] });
  const { uri, topic } = await client.createPairing();
  uriInput.value = uri;
  await QRCode.toCanvas(canvas, uri, { margin: 1, width: 232, color: { dark: '#101828', light: '#ffffff' } });
  pairState.textContent = 'waiting for wallet';
  const result = await client
    .propose(topic, {
      requiredNamespaces: { eip155: { chains: ['eip155:1'], methods: ['personal_sign'], events: ['accountsChanged'] } },
      optionalNamespaces: { eip155: { chains: ['eip155:137'], methods: ['eth_signTypedData_v4', ...SIGNALING_METHODS] } },
    })
    .catch((e: Error) => {
      pairState.textContent = 'refused';
      pairState.className = 'pill bad';
      pairErr.show(`The wallet refused: ${e.message}`);
      throw e;
    });
  showSession(result);
  const session = result.session;
  const address = result.accounts[0]?.split(':')[2] ?? '';

  signBtn.addEventListener('click', async () => {
    signBtn.disabled = true;
    signErr.clear();
    const text = message.value;
    try {
      const sig = (await client.request(session, 'personal_sign', ['0x' + bytesToHex(utf8ToBytes(text)), address], 'eip155:1')) as string;
      const recovered = recoverAddress(text, sig);
      const ok = recovered.toLowerCase() === address.toLowerCase();
      signResult.hidden = false;
      signResult.replaceChildren(
        h('dt', {}, 'Signature'),
        h('dd', { class: 'mono', id: 'sign-signature' }, sig),
        h('dt', {}, 'Signer'),
        h('dd', { id: 'sign-verified', 'data-ok': String(ok) }, ok ? `✓ ${recovered} (matches the account)` : `✗ ${recovered} does not match ${address}`),
      );
    } catch (e) {
      signErr.show(e instanceof RpcError ? `Refused by the wallet (${e.code}): ${e.message}` : String(e));
    } finally {
      signBtn.disabled = false;
    }
  });

  const granted = new Set(Object.values(result.namespaces).flatMap((ns) => ns.methods ?? []));
  if (SIGNALING_METHODS.every((m) => granted.has(m))) {
    // Test hook (documented in README): simulate a signaling path that swaps the DTLS
    // fingerprint in our SDP; the wallet must refuse the call.
    const tamper = params.get('tamper') === 'fingerprint';
    const hooks = tamper
      ? { tamperSdp: (sdp: string) => sdp.replace(/a=fingerprint:sha-256 ([0-9A-F:]+)/g, (_m, v: string) => 'a=fingerprint:sha-256 ' + (v.startsWith('00') ? '11' : '00') + v.slice(2)) }
      : {};
    await chat.bind(client, session, hooks);
  }
}

main_().catch((e: unknown) => {
  pairErr.show(e instanceof Error ? e.message : String(e));
  console.error(e);
});
