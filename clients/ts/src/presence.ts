/**
 * Peer presence from traffic, a port of `heliograph_session::presence`: a
 * session's peer is online while messages keep arriving and offline after a
 * silence longer than a bound; a heartbeat (`wc_sessionPing`) is due whenever
 * we have sent nothing for an interval. Sans-IO: time enters as `nowMs`.
 */

/** Whether the peer is heard from. */
export type PeerState = 'online' | 'offline';

/** Presence timers of one session. */
export class Presence {
  private lastSent: number;
  private lastHeard: number;
  private current: PeerState = 'online';

  /** Starts online, as of `nowMs`. */
  constructor(
    readonly intervalMs: number,
    readonly offlineAfterMs: number,
    nowMs: number,
  ) {
    this.lastSent = nowMs;
    this.lastHeard = nowMs;
  }

  /** The peer's current state. */
  get state(): PeerState {
    return this.current;
  }

  /** A valid message arrived; returns `'online'` if the peer was offline. */
  heard(nowMs: number): PeerState | undefined {
    this.lastHeard = nowMs;
    if (this.current !== 'offline') return undefined;
    this.current = 'online';
    return 'online';
  }

  /** We sent something. */
  sent(nowMs: number): void {
    this.lastSent = nowMs;
  }

  /** Whether a heartbeat should be sent now. */
  heartbeatDue(nowMs: number): boolean {
    return nowMs >= this.lastSent + this.intervalMs;
  }

  /** Returns `'offline'` when the silence bound has just been crossed (once). */
  check(nowMs: number): PeerState | undefined {
    if (this.current !== 'online' || nowMs < this.lastHeard + this.offlineAfterMs) return undefined;
    this.current = 'offline';
    return 'offline';
  }

  /** When (unix ms) a heartbeat or the offline check is next due. */
  nextTimeout(): number {
    const heartbeat = this.lastSent + this.intervalMs;
    return this.current === 'online' ? Math.min(heartbeat, this.lastHeard + this.offlineAfterMs) : heartbeat;
  }
}
