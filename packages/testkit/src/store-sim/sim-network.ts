// The simulated network between stores: per-link latency with jitter, in-order delivery on
// each link (a transport stream is ordered), loss of whole batches, partitions between
// store pairs (one-way or both ways), and stores that are down (a send to them fails and
// is reported unreachable, as a refused connection is). Snapshots travel as a stream of
// chunks over the same links. Every decision comes from one seeded Prng.
import type { Prng } from '@rangekv/raft';
import type { HostTransport, TransportFactory, TransportHandlers } from '@rangekv/multiraft';
import {
  SnapshotStreamError, type OutboundSnapshot, type RangeMessage, type SnapshotSendResult, type TransportMetrics,
} from '@rangekv/transport';
import type { SimWorld } from './world.js';

export interface NetworkSettings {
  /** One-way latency of a batch: [min, max] ms, drawn per batch. */
  latencyMsMin: number;
  latencyMsMax: number;
  /** Probability a batch is lost (the stream "breaks" silently: no unreachable report). */
  dropRate: number;
}

/** A snapshot call's bound on the sender's clock, ms (longer than any pause fault: 2.1 s). */
export const SIM_SNAPSHOT_TIMEOUT_MS = 5_000;

const EMPTY_DROPS = { queueFull: 0, queueBytes: 0, oversize: 0, unknownPeer: 0, disconnected: 0, fault: 0, stopped: 0 };

function zeroMetrics(): TransportMetrics {
  return {
    batchesSent: 0, batchesReceived: 0, messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0,
    heartbeatPacketsSent: 0, heartbeatPacketsReceived: 0, heartbeatsSent: 0, heartbeatsReceived: 0,
    heartbeatsPerPacketSent: 0, heartbeatsPerPacketReceived: 0, livenessPacketsSent: 0, livenessPacketsReceived: 0,
    drops: { ...EMPTY_DROPS }, inboundFaultDrops: 0, inboundRejects: 0, inboundMessageRejects: 0, reconnects: 0,
    connectFailures: 0, backoffsCutShort: 0, streamBreaks: 0, streamsOpened: 0, inboundStreams: 0, peers: [],
  };
}

export class SimNetwork {
  /** Registered (running) stores' handlers. */
  private readonly endpoints = new Map<number, TransportHandlers>();
  /** Snapshot calls under way, by receiving store: each ends (rejects) when that store goes down. */
  private readonly snapshotResets = new Map<number, Set<() => void>>();
  /** Directed cuts "from>to". */
  private readonly cuts = new Set<string>();
  /** Last delivery time per directed link: batches on a link arrive in order. */
  private readonly linkClock = new Map<string, number>();
  /**
   * Loses the messages (and snapshots) of one range on a link while it says so: a test's way
   * to keep one replica behind in one range while its store still follows the others.
   */
  dropRangeMessage: ((from: number, to: number, rangeId: number) => boolean) | null = null;
  /** Batches and snapshot chunks delivered, lost to faults, refused (store down). */
  readonly stats = { batches: 0, messages: 0, lost: 0, unreachable: 0, snapshots: 0, snapshotsFailed: 0 };

  constructor(private readonly world: SimWorld, private readonly prng: Prng, readonly settings: NetworkSettings) {}

  /** The transport of store `storeId`: registers it when the host creates it. */
  transport(storeId: number): TransportFactory {
    return (handlers) => {
      this.endpoints.set(storeId, handlers);
      return Promise.resolve(new SimTransport(this, storeId));
    };
  }

  /** The store went down (crash or stop): sends to it fail from now on, and its snapshot calls under way end (a reset connection). */
  down(storeId: number): void {
    this.endpoints.delete(storeId);
    const calls = this.snapshotResets.get(storeId);
    if (calls === undefined) return;
    this.snapshotResets.delete(storeId);
    for (const reset of calls) reset();
  }

  isUp(storeId: number): boolean {
    return this.endpoints.has(storeId);
  }

  cut(from: number, to: number): void {
    this.cuts.add(`${from}>${to}`);
  }

  heal(from?: number, to?: number): void {
    if (from === undefined || to === undefined) this.cuts.clear();
    else this.cuts.delete(`${from}>${to}`);
  }

  isCut(from: number, to: number): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  /** When a batch sent now on from->to arrives (in order after the link's previous one). */
  private arrival(from: number, to: number): number {
    const s = this.settings;
    const lat = s.latencyMsMin + this.prng.int(s.latencyMsMax - s.latencyMsMin + 1);
    const key = `${from}>${to}`;
    const t = Math.max(this.world.now + lat, this.linkClock.get(key) ?? 0);
    this.linkClock.set(key, t);
    return t - this.world.now;
  }

  /** A batch from `from` for `to`; false when `to` is down (the sender reports it unreachable). */
  deliver(from: number, to: number, msgs: RangeMessage[], liveness: boolean): boolean {
    if (!this.endpoints.has(to)) {
      this.stats.unreachable++;
      return false;
    }
    if (this.isCut(from, to) || this.prng.chance(this.settings.dropRate)) {
      this.stats.lost++;
      return true; // lost on the way, as a blackholed link loses it: no report
    }
    const drop = this.dropRangeMessage;
    const kept = drop === null ? msgs : msgs.filter((m) => !drop(from, to, m.rangeId));
    const delay = this.arrival(from, to);
    this.world.at(to, delay, () => {
      const h = this.endpoints.get(to);
      if (!h) return;
      this.stats.batches++;
      this.stats.messages += kept.length;
      h.onHeard(from);
      if (kept.length > 0) h.onMessages(from, kept);
    });
    void liveness;
    return true;
  }

  /** A connection failure reported to `from` about `to`, a little later (as grpc-js would). */
  reportUnreachable(from: number, to: number): void {
    this.world.at(from, 1, () => this.endpoints.get(from)?.onUnreachable(to));
  }

  /**
   * One snapshot call from `from`: the start, the chunks, the end, each a hop on the link.
   * A receiver that crashes mid-call drops its pending events, so the call would never end
   * and the sender never send that replica a snapshot again: the call ends when the
   * receiver goes down (as a real connection is reset), and in any case after
   * SIM_SNAPSHOT_TIMEOUT_MS on the sender's clock (the real call's deadline).
   */
  sendSnapshot(from: number, s: OutboundSnapshot): Promise<SnapshotSendResult> {
    let ended = false;
    let reset = (): void => {};
    const aborted = new Promise<never>((_, reject) => {
      reset = () => {
        ended = true;
        reject(new SnapshotStreamError('unavailable', `store ${s.toStore} went down during the snapshot`));
      };
    });
    const calls = this.snapshotResets.get(s.toStore) ?? new Set<() => void>();
    this.snapshotResets.set(s.toStore, calls);
    calls.add(reset);
    const timeout = this.world.sleep(from, SIM_SNAPSHOT_TIMEOUT_MS).then((): never => {
      ended = true;
      throw new SnapshotStreamError('timeout', `snapshot to store ${s.toStore} not done within ${SIM_SNAPSHOT_TIMEOUT_MS} ms`);
    });
    return Promise.race([this.snapshotCall(from, s, () => ended), timeout, aborted]).finally(() => calls.delete(reset));
  }

  private async snapshotCall(from: number, s: OutboundSnapshot, ended: () => boolean): Promise<SnapshotSendResult> {
    const to = s.toStore;
    const hop = async (): Promise<TransportHandlers> => {
      if (ended()) throw new SnapshotStreamError('timeout', 'the call ended');
      const h = this.endpoints.get(to);
      if (!h || this.isCut(from, to) || this.dropRangeMessage?.(from, to, s.rangeId) === true) throw new SnapshotStreamError('unavailable', `store ${to} unreachable`);
      await this.world.sleep(to, this.arrival(from, to));
      const again = this.endpoints.get(to);
      if (again !== h || this.isCut(from, to)) throw new SnapshotStreamError('unavailable', `store ${to} went away`);
      return h;
    };
    let h = await hop();
    const sink = await h.onSnapshot({ fromStore: from, toStore: to, rangeId: s.rangeId, message: s.message, header: s.header });
    let chunks = 0;
    let bytes = 0;
    try {
      for (let c = s.nextChunk(); c !== null; c = s.nextChunk()) {
        h = await hop();
        await sink.addChunk(c);
        chunks++;
        bytes += c.length;
      }
      h = await hop();
      await sink.finish();
    } catch (e) {
      this.stats.snapshotsFailed++;
      await sink.abort(e instanceof Error ? e.message : String(e));
      throw e;
    }
    this.stats.snapshots++;
    return { chunks, bytes };
  }
}

/** One store's face of the network (HostTransport). */
class SimTransport implements HostTransport {
  readonly port = 0;
  private queued = new Map<number, RangeMessage[]>();
  private pings = new Set<number>();
  private stopped = false;

  constructor(private readonly net: SimNetwork, private readonly storeId: number) {}

  send(toStore: number, rangeId: number, msg: RangeMessage['msg'], quiesce = false): boolean {
    if (this.stopped) return false;
    if (toStore === this.storeId) throw new Error(`store ${toStore} sending to itself`);
    let q = this.queued.get(toStore);
    if (q === undefined) this.queued.set(toStore, (q = []));
    q.push(quiesce ? { rangeId, msg, quiesce: true } : { rangeId, msg });
    return true;
  }

  sendLiveness(toStore: number): boolean {
    if (this.stopped) return false;
    this.pings.add(toStore);
    return true;
  }

  flush(): void {
    if (this.stopped) return;
    const dests = new Set<number>([...this.queued.keys(), ...this.pings]);
    for (const to of [...dests].sort((a, b) => a - b)) {
      const msgs = this.queued.get(to) ?? [];
      if (!this.net.deliver(this.storeId, to, msgs, this.pings.has(to))) this.net.reportUnreachable(this.storeId, to);
    }
    this.queued = new Map();
    this.pings.clear();
  }

  sendSnapshot(s: OutboundSnapshot): Promise<SnapshotSendResult> {
    if (this.stopped) return Promise.reject(new SnapshotStreamError('unavailable', 'transport stopped'));
    return this.net.sendSnapshot(this.storeId, s);
  }

  metrics(): TransportMetrics {
    return zeroMetrics();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.net.down(this.storeId);
    return Promise.resolve();
  }
}
