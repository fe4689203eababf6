/** Heliograph TypeScript client: relay bridge, pairing, envelopes, sessions, permissions, WebRTC signaling + SAS. */
export * from './bytes';
export * from './keys';
export * from './envelope';
export * from './uri';
export * from './auth';
export * from './relay';
export * from './session';
export * from './signaling';
export * from './eip191';
export * from './webrtc';
export * from './walletconnect';
export * from './waku';
export * from './store';
export * from './presence';
export * from './replay';
