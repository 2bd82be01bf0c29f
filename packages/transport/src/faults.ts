// Fault hooks for tests: message loss, partitions, blocked stores, delivery delay.
// All off unless configured; when off, the transport pays one boolean check per send.
//
// One TransportFaults may be shared by several transports (RaftTransportOptions.faults)
// so a test partitions a pair of stores with one call. Where each fault acts:
//   dropRate        sender, per message (heartbeats included), decided by a seeded Prng:
//                   the same seed and send sequence drop the same messages
//   partition(a,b)  sender, both directions between a and b
//   cutOneWay(a,b)  sender: what a sends to b is lost (b to a still flows)
//   blockOutbound   sender: everything store s sends is lost
//   blockInbound    receiver: every batch store s receives is discarded
//   blockInboundFrom(s,f)
//                   receiver: every batch store s receives from store f is discarded
//   delayMs         receiver: each batch is handed over delayMs after it arrived, in
//                   arrival order per stream
// A message lost to a fault looks sent to the caller (send returns true), as on a real
// network; it is counted in metrics().drops.fault.
import { Prng } from '@rangekv/raft';

function pairKey(a: number, b: number): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

function linkKey(from: number, to: number): string {
  return `${from}>${to}`;
}

export class TransportFaults {
  private prng: Prng;
  private dropRateValue = 0;
  private delayMsValue = 0;
  private readonly partitions = new Set<string>();
  /** Directed (linkKey): lost at the sender. */
  private readonly cuts = new Set<string>();
  /** Directed (linkKey, from the sender to the receiving store): discarded at the receiver. */
  private readonly blockedInFrom = new Set<string>();
  private readonly blockedOut = new Set<number>();
  private readonly blockedIn = new Set<number>();
  private activeValue = false;

  constructor(seed = 1) {
    this.prng = new Prng(seed);
  }

  /** True when any fault is configured (the send path checks only this when false). */
  get active(): boolean {
    return this.activeValue;
  }

  /** Restarts the drop decisions from `seed`. */
  reseed(seed: number): void {
    this.prng = new Prng(seed);
  }

  /** Probability in [0, 1] that a sent message is lost. */
  get dropRate(): number {
    return this.dropRateValue;
  }
  set dropRate(p: number) {
    if (!(p >= 0 && p <= 1)) throw new RangeError(`faults: dropRate must be in [0, 1], got ${p}`);
    this.dropRateValue = p;
    this.refresh();
  }

  /** Delay before a received batch is handed to the inbound handler. */
  get delayMs(): number {
    return this.delayMsValue;
  }
  set delayMs(ms: number) {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`faults: delayMs must be >= 0, got ${ms}`);
    this.delayMsValue = ms;
    this.refresh();
  }

  /** Cuts both directions between stores a and b. */
  partition(a: number, b: number): void {
    this.partitions.add(pairKey(a, b));
    this.refresh();
  }

  /** Cuts one direction only: what `from` sends to `to` is lost at the sender. */
  cutOneWay(from: number, to: number): void {
    this.cuts.add(linkKey(from, to));
    this.refresh();
  }

  /**
   * With two stores: heals that pair (the partition, and the one-way cuts and per-source
   * inbound blocks in both directions). Without: heals every partition, cut and block.
   */
  heal(a?: number, b?: number): void {
    if (a !== undefined && b !== undefined) {
      this.partitions.delete(pairKey(a, b));
      for (const k of [linkKey(a, b), linkKey(b, a)]) {
        this.cuts.delete(k);
        this.blockedInFrom.delete(k);
      }
    } else {
      this.partitions.clear();
      this.cuts.clear();
      this.blockedOut.clear();
      this.blockedIn.clear();
      this.blockedInFrom.clear();
    }
    this.refresh();
  }

  /** Everything `store` sends is lost until unblocked or healed. */
  blockOutbound(store: number): void {
    this.blockedOut.add(store);
    this.refresh();
  }
  unblockOutbound(store: number): void {
    this.blockedOut.delete(store);
    this.refresh();
  }

  /** Everything `store` receives is discarded until unblocked or healed. */
  blockInbound(store: number): void {
    this.blockedIn.add(store);
    this.refresh();
  }
  unblockInbound(store: number): void {
    this.blockedIn.delete(store);
    this.refresh();
  }

  /**
   * Everything `store` receives from `from` (raft batches, liveness pings, snapshot calls)
   * is discarded until healed: a one-way cut made at the receiver.
   */
  blockInboundFrom(store: number, from: number): void {
    this.blockedInFrom.add(linkKey(from, store));
    this.refresh();
  }

  /** Everything off. */
  reset(): void {
    this.dropRateValue = 0;
    this.delayMsValue = 0;
    this.heal();
  }

  /** Sender side: whether a message from `from` to `to` is lost. */
  dropsOutbound(from: number, to: number): boolean {
    if (!this.activeValue) return false;
    if (this.blockedOut.has(from)) return true;
    if (this.partitions.size > 0 && this.partitions.has(pairKey(from, to))) return true;
    if (this.cuts.size > 0 && this.cuts.has(linkKey(from, to))) return true;
    return this.dropRateValue > 0 && this.prng.chance(this.dropRateValue);
  }

  /** Receiver side: whether a batch from `from` arriving at `store` is discarded. */
  dropsInbound(store: number, from: number): boolean {
    if (!this.activeValue) return false;
    return this.blockedIn.has(store) || (this.blockedInFrom.size > 0 && this.blockedInFrom.has(linkKey(from, store)));
  }

  private refresh(): void {
    this.activeValue = this.dropRateValue > 0 || this.delayMsValue > 0 || this.partitions.size > 0 || this.cuts.size > 0 ||
      this.blockedOut.size > 0 || this.blockedIn.size > 0 || this.blockedInFrom.size > 0;
  }
}
