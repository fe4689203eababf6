/**
 * Replay protection for incoming requests, a port of `heliograph_session::replay`:
 * a bounded window of seen request ids per topic plus an age check on the time
 * encoded in each id (`unix_ms * 1000 + rand`). Ids at or below the window's floor
 * (the largest id ever evicted) are refused, so the memory bound never reopens a
 * door for old messages. Serialises as the Rust `ReplayWindow`: `{seen, floor, capacity}`.
 */

/** The serialised form, identical to the Rust crate's. */
export interface ReplayWindowJson {
  seen: number[];
  floor: number;
  capacity: number;
}

/** A bounded seen-set of request ids for one topic. */
export class ReplayWindow {
  private seen: number[] = [];
  private floor = 0;
  readonly capacity: number;

  /** An empty window remembering at most `capacity` ids. */
  constructor(capacity = 1024) {
    this.capacity = Math.max(1, capacity);
  }

  /** Rebuilds a saved window; refuses malformed input. */
  static fromJson(v: ReplayWindowJson): ReplayWindow {
    const ok = (n: unknown) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
    if (!v || !Array.isArray(v.seen) || !v.seen.every(ok) || !ok(v.floor) || !ok(v.capacity)) throw new Error('malformed replay window');
    const w = new ReplayWindow(v.capacity);
    w.floor = v.floor;
    w.seen = [...new Set(v.seen)].sort((a, b) => a - b).slice(-w.capacity);
    return w;
  }

  toJSON(): ReplayWindowJson {
    return { seen: [...this.seen], floor: this.floor, capacity: this.capacity };
  }

  /** Ids currently remembered. */
  get size(): number {
    return this.seen.length;
  }

  /** Checks `id` against the window and the age bounds and records it if fresh; throws why not. */
  accept(id: number, nowMs: number, maxAgeMs: number, maxSkewMs: number): void {
    const createdMs = Math.floor(id / 1000);
    if (createdMs + maxAgeMs < nowMs) throw new Error(`message id ${id} was created at ${createdMs} ms, older than the accepted age`);
    if (createdMs > nowMs + maxSkewMs) throw new Error(`message id ${id} claims creation at ${createdMs} ms, in the future`);
    if (id <= this.floor) throw new Error(`message id ${id} is below the replay window: refused as a possible replay`);
    // Sorted insert (ids mostly arrive in order: search from the end).
    let i = this.seen.length;
    while (i > 0 && this.seen[i - 1] > id) i--;
    if (i > 0 && this.seen[i - 1] === id) throw new Error(`message id ${id} was already received: replay refused`);
    this.seen.splice(i, 0, id);
    while (this.seen.length > this.capacity) this.floor = Math.max(this.floor, this.seen.shift() as number);
  }
}
