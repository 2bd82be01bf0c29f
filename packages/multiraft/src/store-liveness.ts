// Store liveness: which peer stores are alive, from this store's point of view. Per
// store, not per range: quiescent ranges send nothing, so something else must notice a
// dead store and wake the ranges it led (quiescence.ts).
//
// Every livenessIntervalMs this store pings every peer store (a liveness packet riding
// in the transport's next batch to it, RaftTransport.sendLiveness). Any batch from a
// store (a ping or raft traffic) counts as hearing from it. A store is live from the
// first time it is heard until it has been silent both for livenessTimeoutMs and for
// ceil(livenessTimeoutMs / livenessIntervalMs) of our own polls, or the transport reports
// it unreachable (connection refused, stream broken) — whichever comes first. A store
// never heard from is not live. `onDown` runs on each live -> down transition, `onUp` on
// each down -> live one.
//
// Why count polls too: when OUR event loop stalls (overload, GC), the batches peers sent
// meanwhile wait in the socket, and the late timer fires before they are read. Wall time
// alone would declare every peer down after each long stall, waking every quiescent
// range at once — more load, more stalls. Between two polls the loop always reads its
// sockets, so K silent polls mean K chances to hear the peer went unused.
//
//   const l = new StoreLiveness({ storeId: 1, livenessIntervalMs: 250, livenessTimeoutMs: 1000,
//     peers: () => [2, 3], ping: (s) => t.sendLiveness(s), flush: () => t.flush(),
//     onDown: (s) => wakeRangesLedFrom(s) });
//   t.onHeard((s) => l.heard(s)); t.onUnreachable((s) => l.unreachable(s));
//   l.start(); ... l.isLive(2); ... l.stop();
//
// Choosing the timeout: a false "down" only costs wake-ups (and maybe an election that
// pre-vote and check-quorum keep from disrupting a live leader); a late one delays the
// failover of quiescent ranges whose leader store vanished silently (a partition; a
// killed process is reported unreachable at once). Keep livenessTimeoutMs several
// intervals long so one lost ping never declares a store down.

import { every, realClock, type HostClock } from './host-clock.js';

export interface StoreLivenessOptions {
  storeId: number;
  /** How often every peer is pinged and silences are checked. */
  livenessIntervalMs: number;
  /** Silence after which a live peer is declared down. */
  livenessTimeoutMs: number;
  /** The stores to ping (besides every store heard from); asked again every peerRefreshMs. */
  peers: () => Iterable<number>;
  /** Default 5,000 ms (the descriptor scan behind `peers` costs one pass over all ranges). */
  peerRefreshMs?: number;
  /** Queues a ping to a store (the transport drops it when the store is unreachable). */
  ping: (storeId: number) => void;
  /** Writes the queued pings. */
  flush: () => void;
  onDown: (storeId: number) => void;
  onUp?: (storeId: number) => void;
  /** Monotonic milliseconds; tests inject a fake and call poll() themselves. */
  now?: () => number;
  /** Timers; default realClock (the simulation injects its own). `now` defaults to its now. */
  clock?: HostClock;
}

export interface PeerLiveness {
  storeId: number;
  live: boolean;
  /** now() when last heard from, or -1 if never. */
  lastHeardMs: number;
  /** live -> down transitions so far. */
  downs: number;
  /** Our polls since it was last heard. */
  silentPolls: number;
}

export class StoreLiveness {
  private readonly o: Required<Omit<StoreLivenessOptions, 'onUp' | 'clock'>> & Pick<StoreLivenessOptions, 'onUp'>;
  private readonly clock: HostClock;
  private readonly peerState = new Map<number, PeerLiveness>();
  private stopTimer: (() => void) | null = null;
  private polls = 0;
  private readonly refreshEveryPolls: number;
  /** Silent polls (besides livenessTimeoutMs) before a live peer is declared down. */
  private readonly downAfterPolls: number;

  constructor(opts: StoreLivenessOptions) {
    if (!(opts.livenessIntervalMs > 0) || !(opts.livenessTimeoutMs > opts.livenessIntervalMs)) {
      throw new RangeError(
        `store liveness: need 0 < livenessIntervalMs (${opts.livenessIntervalMs}) < livenessTimeoutMs (${opts.livenessTimeoutMs})`);
    }
    const clock = opts.clock ?? realClock;
    this.clock = clock;
    this.o = { peerRefreshMs: 5_000, now: () => clock.now(), ...opts };
    this.refreshEveryPolls = Math.max(1, Math.round(this.o.peerRefreshMs / opts.livenessIntervalMs));
    this.downAfterPolls = Math.ceil(opts.livenessTimeoutMs / opts.livenessIntervalMs);
  }

  /** Pings at once, then every livenessIntervalMs. */
  start(): void {
    if (this.stopTimer !== null) return;
    this.poll();
    this.stopTimer = every(this.clock, this.o.livenessIntervalMs, () => this.poll());
  }

  stop(): void {
    this.stopTimer?.();
    this.stopTimer = null;
  }

  isLive(storeId: number): boolean {
    return this.peerState.get(storeId)?.live === true;
  }

  /** Declared down (it was live, then went silent or unreachable) and not heard since; false for a store never heard. */
  isDown(storeId: number): boolean {
    const p = this.peerState.get(storeId);
    return p !== undefined && !p.live && p.downs > 0;
  }

  /** Any batch from `storeId` arrived. */
  heard(storeId: number): void {
    if (storeId === this.o.storeId) return;
    const p = this.peer(storeId);
    p.lastHeardMs = this.o.now();
    p.silentPolls = 0;
    if (!p.live) {
      p.live = true;
      this.o.onUp?.(storeId);
    }
  }

  /** The transport could not reach `storeId`: declared down now. */
  unreachable(storeId: number): void {
    if (storeId === this.o.storeId) return;
    this.markDown(this.peer(storeId));
  }

  /** One interval: declare down the peers silent for livenessTimeoutMs (and as many polls), then ping every peer. */
  poll(): void {
    if (this.polls++ % this.refreshEveryPolls === 0) {
      for (const id of this.o.peers()) if (id !== this.o.storeId) this.peer(id);
    }
    const now = this.o.now();
    for (const p of this.peerState.values()) {
      if (!p.live) continue;
      p.silentPolls++;
      if (p.silentPolls > this.downAfterPolls && now - p.lastHeardMs > this.o.livenessTimeoutMs) this.markDown(p);
    }
    for (const id of this.peerState.keys()) this.o.ping(id);
    this.o.flush();
  }

  /** Plain-data view, ascending by store id. */
  status(): PeerLiveness[] {
    return [...this.peerState.values()].map((p) => ({ ...p })).sort((a, b) => a.storeId - b.storeId);
  }

  private peer(storeId: number): PeerLiveness {
    let p = this.peerState.get(storeId);
    if (p === undefined) {
      p = { storeId, live: false, lastHeardMs: -1, downs: 0, silentPolls: 0 };
      this.peerState.set(storeId, p);
    }
    return p;
  }

  private markDown(p: PeerLiveness): void {
    if (!p.live) return;
    p.live = false;
    p.downs++;
    this.o.onDown(p.storeId);
  }
}
