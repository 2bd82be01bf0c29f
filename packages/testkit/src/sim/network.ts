// The simulated network between raft nodes: per-link latency, jitter (reordering),
// message loss, duplication, delay spikes and directed link cuts (partitions, asymmetric
// partitions, flapping links). It decides what happens to each message; the cluster
// schedules the deliveries. All randomness comes from one seeded Prng.
import type { NodeId, Prng } from '@rangekv/raft';

export interface NetworkOptions {
  /** Each directed link's base latency is drawn once from [min, max] (sim time units). */
  latencyUnitsMin: number;
  latencyUnitsMax: number;
  /** Per-message jitter drawn from [0, jitterUnitsMax] on top of the link latency. */
  jitterUnitsMax: number;
  /** Ids are below this bound (link tables are dense). */
  maxNodeId: number;
}

export const DEFAULT_NETWORK_OPTIONS: NetworkOptions = { latencyUnitsMin: 1, latencyUnitsMax: 4, jitterUnitsMax: 2, maxNodeId: 16 };

/** What the fault schedule can turn up or down; all zero means a clean network. */
export interface NetworkFaults {
  /** Probability a message is lost. */
  dropRate: number;
  /** Probability a message is delivered twice (the copy with its own delay). */
  duplicateRate: number;
  /** Extra jitter in [0, reorderJitterUnitsMax] per message: heavy reordering. */
  reorderJitterUnitsMax: number;
  /** Probability a message is held back by up to delaySpikeUnitsMax extra units. */
  delaySpikeRate: number;
  delaySpikeUnitsMax: number;
}

export function cleanFaults(): NetworkFaults {
  return { dropRate: 0, duplicateRate: 0, reorderJitterUnitsMax: 0, delaySpikeRate: 0, delaySpikeUnitsMax: 0 };
}

export class NetworkModel {
  readonly faults: NetworkFaults = cleanFaults();
  private readonly latency: Int32Array;
  private readonly cut: Uint8Array;
  private readonly n: number;
  private cutCount = 0;

  constructor(private readonly prng: Prng, private readonly opts: NetworkOptions = DEFAULT_NETWORK_OPTIONS) {
    if (!(opts.latencyUnitsMin >= 0 && opts.latencyUnitsMax >= opts.latencyUnitsMin)) throw new RangeError('network: bad latency range');
    this.n = opts.maxNodeId;
    this.latency = new Int32Array(this.n * this.n);
    for (let i = 0; i < this.latency.length; i++) {
      this.latency[i] = opts.latencyUnitsMin + prng.int(opts.latencyUnitsMax - opts.latencyUnitsMin + 1);
    }
    this.cut = new Uint8Array(this.n * this.n);
  }

  /** Blocks messages from `from` to `to` (one direction only). */
  cutLink(from: NodeId, to: NodeId): void {
    const k = this.key(from, to);
    if (this.cut[k] === 0) this.cutCount++;
    this.cut[k] = 1;
  }

  restoreLink(from: NodeId, to: NodeId): void {
    const k = this.key(from, to);
    if (this.cut[k] === 1) this.cutCount--;
    this.cut[k] = 0;
  }

  /** Cuts every link between the two sides, both directions. */
  partition(sideA: readonly NodeId[], sideB: readonly NodeId[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.cutLink(a, b);
        this.cutLink(b, a);
      }
    }
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut[this.key(from, to)] === 1;
  }

  /** Directed cuts currently in force, as "from->to" pairs. */
  cuts(): [NodeId, NodeId][] {
    const out: [NodeId, NodeId][] = [];
    for (let k = 0; k < this.cut.length; k++) if (this.cut[k] === 1) out.push([Math.floor(k / this.n), k % this.n]);
    return out;
  }

  hasCuts(): boolean {
    return this.cutCount > 0;
  }

  /** Restores every link and turns all message faults off. */
  healAll(): void {
    this.cut.fill(0);
    this.cutCount = 0;
    Object.assign(this.faults, cleanFaults());
  }

  /**
   * Decides the fate of one message: the delays after which copies arrive. Empty means
   * lost (link cut or dropped); two entries mean duplicated.
   */
  route(from: NodeId, to: NodeId): number[] {
    const k = this.key(from, to);
    if (this.cut[k] === 1) return [];
    const f = this.faults;
    if (f.dropRate > 0 && this.prng.chance(f.dropRate)) return [];
    const first = this.delay(k);
    if (f.duplicateRate > 0 && this.prng.chance(f.duplicateRate)) return [first, this.delay(k)];
    return [first];
  }

  private delay(k: number): number {
    const f = this.faults;
    let d = this.latency[k]! + this.prng.int(this.opts.jitterUnitsMax + 1);
    if (f.reorderJitterUnitsMax > 0) d += this.prng.int(f.reorderJitterUnitsMax + 1);
    if (f.delaySpikeRate > 0 && this.prng.chance(f.delaySpikeRate)) d += 1 + this.prng.int(f.delaySpikeUnitsMax);
    return d;
  }

  private key(from: NodeId, to: NodeId): number {
    if (!(from >= 0 && from < this.n && to >= 0 && to < this.n)) {
      throw new RangeError(`network: node id out of range (${from}->${to}, max ${this.n - 1})`);
    }
    return from * this.n + to;
  }
}
