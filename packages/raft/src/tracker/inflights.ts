// The window of append messages sent to one follower and not yet acknowledged.
//
// The leader stops sending to a replicating follower once this window is full, which
// bounds both the number of messages and the bytes in flight per follower.
//
// Memory: a follower that is idle (or was just reset) holds no buffer at all. The buffer
// is allocated on the first add and grows by doubling up to `maxCount`, so a group that
// only ever has one append in flight never pays for a 256-slot window.
import { invariant } from '../util.js';

const INITIAL_SLOTS = 4;

export class Inflights {
  /**
   * Ring of slots, two numbers per slot: [lastIndex, bytes] of one message in flight.
   * Float64 holds every index up to Number.MAX_SAFE_INTEGER exactly.
   */
  private ring: Float64Array | null = null;
  /** Slot of the oldest message in flight. */
  private start = 0;
  private inflightCount = 0;
  private inflightBytes = 0;

  /**
   * @param maxCount most messages in flight (≥ 1).
   * @param maxBytes most payload bytes in flight; 0 means no byte limit.
   */
  constructor(
    readonly maxCount: number,
    readonly maxBytes: number,
  ) {
    invariant(Number.isSafeInteger(maxCount) && maxCount >= 1, () => `inflights maxCount ${maxCount} must be ≥ 1`);
    invariant(Number.isSafeInteger(maxBytes) && maxBytes >= 0, () => `inflights maxBytes ${maxBytes} must be ≥ 0`);
  }

  /**
   * Records a message whose last entry is `index`, carrying `bytes` of payload.
   * Indexes must strictly increase, and the window must not be full: the caller checks
   * full() (via Progress.isPaused) before sending.
   */
  add(index: number, bytes: number): void {
    invariant(!this.full(), () => `inflights add(${index}) into a full window: ${this.toString()}`);
    invariant(bytes >= 0, () => `inflights add(${index}) with negative size ${bytes}`);
    let ring = this.ring;
    if (ring !== null && this.inflightCount > 0) {
      const last = ring[2 * this.slot(ring, this.inflightCount - 1)];
      invariant(index > last, () => `inflights add(${index}) not above last in-flight index ${last}`);
    }
    if (ring === null || this.inflightCount === ring.length / 2) ring = this.grow();
    const at = 2 * this.slot(ring, this.inflightCount);
    ring[at] = index;
    ring[at + 1] = bytes;
    this.inflightCount++;
    this.inflightBytes += bytes;
  }

  /** Frees every message whose last index is ≤ `index` (the follower acked up to it). */
  freeLE(index: number): void {
    const ring = this.ring;
    if (ring === null) return;
    const slots = ring.length / 2;
    let freed = 0;
    let freedBytes = 0;
    let at = this.start;
    while (freed < this.inflightCount && ring[2 * at] <= index) {
      freedBytes += ring[2 * at + 1];
      freed++;
      at = at + 1 === slots ? 0 : at + 1;
    }
    this.inflightCount -= freed;
    this.inflightBytes -= freedBytes;
    // An empty window restarts at slot 0 so the next burst does not wrap needlessly.
    // The buffer itself is kept: freeing it here would reallocate on every append/ack.
    this.start = this.inflightCount === 0 ? 0 : at;
  }

  /** True when no further message may be sent until some are acknowledged. */
  full(): boolean {
    return this.inflightCount >= this.maxCount || (this.maxBytes > 0 && this.inflightBytes >= this.maxBytes);
  }

  count(): number {
    return this.inflightCount;
  }

  bytes(): number {
    return this.inflightBytes;
  }

  /** Slots currently allocated (0 when idle); exposed so tests can pin the memory rule. */
  capacity(): number {
    return this.ring === null ? 0 : this.ring.length / 2;
  }

  /** Forgets everything in flight and releases the buffer (state changes, quiescence). */
  reset(): void {
    this.ring = null;
    this.start = 0;
    this.inflightCount = 0;
    this.inflightBytes = 0;
  }

  /** An independent copy (configuration changes must not mutate the old Progress). */
  clone(): Inflights {
    const c = new Inflights(this.maxCount, this.maxBytes);
    c.ring = this.ring === null ? null : this.ring.slice();
    c.start = this.start;
    c.inflightCount = this.inflightCount;
    c.inflightBytes = this.inflightBytes;
    return c;
  }

  toString(): string {
    const bytesMax = this.maxBytes === 0 ? 'unlimited' : String(this.maxBytes);
    return `${this.inflightCount}/${this.maxCount} msgs, ${this.inflightBytes}/${bytesMax} bytes`;
  }

  /** Ring slot of the i-th oldest message. */
  private slot(ring: Float64Array, i: number): number {
    const at = this.start + i;
    const slots = ring.length / 2;
    return at >= slots ? at - slots : at;
  }

  /** Allocates or doubles the buffer (capped at maxCount), unwrapping the ring to slot 0. */
  private grow(): Float64Array {
    const old = this.ring;
    const oldSlots = old === null ? 0 : old.length / 2;
    const slots = Math.min(this.maxCount, Math.max(INITIAL_SLOTS, oldSlots * 2));
    invariant(slots > oldSlots, () => `inflights cannot grow past maxCount ${this.maxCount}`);
    const ring = new Float64Array(2 * slots);
    if (old !== null) {
      for (let i = 0; i < this.inflightCount; i++) {
        const from = 2 * this.slot(old, i);
        ring[2 * i] = old[from];
        ring[2 * i + 1] = old[from + 1];
      }
    }
    this.ring = ring;
    this.start = 0;
    return ring;
  }
}
