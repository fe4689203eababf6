// Shared pieces of the demo pages: relay address, ICE settings, DOM helpers, the
// status pill, the SAS box and the chat panel over a PeerCall.
import { PeerCall, RelayClient, SessionClient, iceServersFromTurn, type CallState, type IceOptions } from '@heliograph/client';

declare global {
  interface Window {
    /** The page's call, for the end-to-end tests (stats of the peer connection). */
    heliographCall?: PeerCall;
  }
}

/** The bridge URL from `?relay=ws://host:port` (default: the node's default bridge address). */
export function relayUrl(): string {
  return new URLSearchParams(location.search).get('relay') ?? 'ws://127.0.0.1:8090';
}

/**
 * ICE settings: `?iceServers=<JSON RTCIceServer[]>` if given, else the node's TURN
 * credentials (`turn_credentials`; none when the node has no TURN server), and
 * `?icePolicy=relay` for TURN only (default `all`).
 */
export async function iceOptions(relay: RelayClient): Promise<IceOptions> {
  const q = new URLSearchParams(location.search);
  const given = q.get('iceServers');
  const iceServers = given !== null ? (JSON.parse(given) as RTCIceServer[]) : iceServersFromTurn(await relay.turnCredentials());
  const policy = q.get('icePolicy');
  if (policy !== null && policy !== 'relay' && policy !== 'all') throw new Error(`icePolicy must be relay or all, not ${policy}`);
  return { iceServers, iceTransportPolicy: policy ?? 'all' };
}

let ice: Promise<IceOptions> = Promise.resolve({});

type Attrs = Record<string, string | boolean | ((ev: Event) => void)>;

/** Tiny element builder. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (typeof v === 'boolean') {
      if (v) el.setAttribute(k, '');
    } else el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

/** The page frame: top bar with the role and a connection pill. */
export function frame(role: string): { main: HTMLElement; status: (text: string, kind?: 'ok' | 'warn' | 'bad') => void } {
  const pill = h('span', { class: 'pill warn', id: 'relay-status' }, 'connecting');
  const app = document.getElementById('app')!;
  const main = h('main');
  app.append(
    h('header', { class: 'topbar' }, h('span', { class: 'logo' }, '☀ Heliograph'), h('span', { class: 'role' }, role), h('span', { class: 'spacer' }), h('span', { class: 'muted mono' }, relayUrl()), pill),
    main,
  );
  return {
    main,
    status(text, kind) {
      pill.textContent = text;
      pill.className = 'pill' + (kind ? ' ' + kind : '');
    },
  };
}

/** Connects to the relay bridge and makes a session client; reports through `status`. */
export async function connect(
  status: (text: string, kind?: 'ok' | 'warn' | 'bad') => void,
  metadata: { name: string; description: string; url: string; icons: string[] },
): Promise<SessionClient> {
  try {
    const relay = await RelayClient.connect(relayUrl(), { timeoutMs: 15_000 });
    relay.onClose = (code, reason) => status(`relay closed (${code}${reason ? ' ' + reason : ''})`, 'bad');
    relay.onStatus = (s) => (s === 'connected' ? status('relay connected', 'ok') : status('reconnecting…', 'warn'));
    status('relay connected', 'ok');
    ice = iceOptions(relay);
    // Reported when the call is set up (bind awaits it), not as an unhandled rejection now.
    ice.catch(() => {});
    return new SessionClient(relay, { metadata, requestTimeoutMs: 120_000 });
  } catch (e) {
    status('relay unreachable', 'bad');
    throw e;
  }
}

/** A 6-digit SAS display. */
export function sasBox(id: string, label: string): { el: HTMLElement; set: (digits: string) => void } {
  const digits = h('span', { class: 'digits', id }, '——————');
  const el = h('div', { class: 'sas' }, h('span', { class: 'hint' }, label), digits, h('span', { class: 'hint' }, 'Compare with the other device. Different digits mean someone is in the middle.'));
  return { el, set: (d) => (digits.textContent = d.slice(0, 3) + ' ' + d.slice(3)) };
}

/** Shows an error in a box. */
export function errorBox(id: string): { el: HTMLElement; show: (msg: string) => void; clear: () => void } {
  const el = h('div', { class: 'error', id, hidden: true });
  return {
    el,
    show(msg) {
      el.textContent = msg;
      el.hidden = false;
    },
    clear() {
      el.hidden = true;
    },
  };
}

const STATE_TEXT: Record<CallState, [string, 'ok' | 'warn' | 'bad' | undefined]> = {
  idle: ['not started', undefined],
  calling: ['calling…', 'warn'],
  ringing: ['incoming call…', 'warn'],
  connecting: ['connecting…', 'warn'],
  open: ['secure channel open', 'ok'],
  closed: ['ended', undefined],
  failed: ['failed', 'bad'],
};

/**
 * The chat card: call state, call SAS, message log and input. Returns the card and
 * a function that binds it to a PeerCall once the session exists.
 */
export function chatCard(canStart: boolean): { el: HTMLElement; bind: (client: SessionClient, session: string, hooks?: Parameters<typeof PeerCall.create>[3]) => Promise<PeerCall> } {
  const state = h('span', { class: 'pill', id: 'call-state' }, 'not started');
  const sas = sasBox('call-sas', 'Call security code');
  const cert = h('span', { class: 'hint', id: 'call-cert' }, 'DTLS certificate: not checked yet');
  sas.el.append(cert);
  const log = h('div', { class: 'log', id: 'chat-log' });
  const input = h('input', { id: 'chat-input', placeholder: 'Type a message', autocomplete: 'off', disabled: true });
  const send = h('button', { id: 'chat-send', type: 'submit', disabled: true }, 'Send');
  const start = h('button', { id: 'call-start', disabled: true }, 'Start secure chat');
  const hang = h('button', { id: 'call-hangup', class: 'danger', disabled: true }, 'Hang up');
  const restart = h('button', { id: 'call-restart', class: 'secondary', disabled: true }, 'Reconnect (ICE restart)');
  const camera = h('button', { id: 'call-camera', class: 'secondary', disabled: true }, 'Send camera');
  const video = h('video', { id: 'remote-video', autoplay: true, muted: true, playsinline: true, hidden: true });
  let restarts = 0;
  let renegotiations = 0;
  let remoteTracks = 0;
  const err = errorBox('call-error');
  const form = h('form', {}, input, send);
  const el = h(
    'section',
    { class: 'card wide chat', id: 'chat-card', hidden: true },
    h('div', { class: 'row', style: 'margin-top:0;justify-content:space-between' }, h('h2', {}, 'Secure chat (WebRTC DataChannel)'), state),
    h('p', { class: 'sub' }, 'Offer, answer and ICE candidates travel inside the encrypted session; the media path is peer-to-peer.'),
    h('div', { style: 'display:grid;grid-template-columns:1fr 2fr;gap:16px;align-items:start' }, sas.el, h('div', {}, log, form)),
    video,
    h('div', { class: 'row' }, ...(canStart ? [start] : []), restart, camera, hang),
    err.el,
  );
  const line = (text: string, cls: string) => {
    log.append(h('div', { class: 'msg ' + cls }, text));
    log.scrollTop = log.scrollHeight;
  };
  return {
    el,
    async bind(client, session, hooks) {
      el.hidden = false;
      const call = await PeerCall.create(
        client,
        session,
        {
          onState(s, detail) {
            const [text, kind] = STATE_TEXT[s];
            state.textContent = detail && s === 'closed' ? `${text}: ${detail}` : text;
            state.className = 'pill' + (kind ? ' ' + kind : '');
            state.dataset.state = s;
            const open = s === 'open';
            input.disabled = send.disabled = !open;
            hang.disabled = !(open || s === 'connecting' || s === 'calling');
            restart.disabled = !open;
            camera.disabled = !open || camera.dataset.sent === 'true';
            start.disabled = true;
            if (open) line('Secure channel open: compare the code before sharing anything sensitive.', 'sys');
            if (s === 'closed') line(detail ? `Call ended: ${detail}` : 'Call ended', 'sys');
          },
          onSas: (d) => sas.set(d),
          onCertificate(status) {
            cert.dataset.status = status;
            cert.textContent = status === 'verified' ? '✓ DTLS certificate matches the authenticated fingerprint' : 'DTLS certificate: not exposed by this browser (SDP check only)';
          },
          onMessage: (t) => line(t, 'them'),
          onGlare() {
            el.dataset.glare = 'lost';
            line('Both sides called at once: joining the other call.', 'sys');
          },
          onRestarted(code) {
            restarts += 1;
            el.dataset.restarts = String(restarts);
            line(`Connection renewed (ICE restart); the code is still ${code.slice(0, 3)} ${code.slice(3)}.`, 'sys');
          },
          onTrack(track, streams) {
            remoteTracks += 1;
            el.dataset.remoteTracks = String(remoteTracks);
            video.srcObject = streams[0] ?? new MediaStream([track]);
            video.hidden = false;
            line(`The other side sends ${track.kind}.`, 'sys');
          },
          onRenegotiated() {
            renegotiations += 1;
            el.dataset.renegotiations = String(renegotiations);
          },
          onError: (e) => err.show(e.message),
        },
        hooks,
        await ice,
      );
      window.heliographCall = call;
      start.disabled = false;
      start.addEventListener('click', () => {
        start.disabled = true;
        err.clear();
        void call.start();
      });
      hang.addEventListener('click', () => call.hangup('hung up'));
      restart.addEventListener('click', () => void call.restart());
      camera.addEventListener('click', async () => {
        camera.disabled = true;
        camera.dataset.sent = 'true';
        try {
          const stream = await navigator.mediaDevices.getUserMedia({ video: true });
          for (const track of stream.getTracks()) await call.addTrack(track, stream);
          line('Sending camera.', 'sys');
        } catch (e) {
          err.show(`camera: ${(e as Error).message}`);
        }
      });
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        call.send(text);
        line(text, 'me');
        input.value = '';
      });
      return call;
    },
  };
}
