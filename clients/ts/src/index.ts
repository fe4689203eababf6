/** Heliograph TypeScript client: relay bridge, pairing, envelopes, sessions, permissions, WebRTC signaling + SAS. */
export * from './bytes.js';
export * from './keys.js';
export * from './envelope.js';
export * from './uri.js';
export * from './auth.js';
export * from './relay.js';
export * from './session.js';
export * from './signaling.js';
export * from './eip191.js';
export * from './webrtc.js';
export * from './walletconnect.js';
export * from './waku.js';
export * from './store.js';
export * from './presence.js';
export * from './replay.js';
