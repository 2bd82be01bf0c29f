// One simulated store: the real RaftHost with the real KvStore (KV state machine, apply
// path, KV and admin services) over a simulated disk (storage's MemDisk), the simulated
// network and the world's clock. Crash loses what the disk had not made durable; restart
// opens the engine again from what survived, as a process restart would.
import type { Prng } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { MemDisk, StorageEngine } from '@rangekv/storage';
import { RaftHost, removedByDescriptor, type HostTiming, type ReplicaGcLimits, type ReplicaGcQuery } from '@rangekv/multiraft';
import { silentLogger, type Logger } from '@rangekv/runtime';
import { KvStore, mergedAway, resolveStoreLimits, storeIdSpace, type KvResult } from '@rangekv/store';
import type { SimNetwork } from './sim-network.js';
import type { SimWorld } from './world.js';

export interface SimStoreSettings {
  timing: Partial<HostTiming>;
  /** fsync time of the simulated disk, ms, drawn per sync from [min, max]. */
  syncMsMin: number;
  syncMsMax: number;
  /** Log compaction: applied entries before compacting, entries kept (low: snapshots flow). */
  compactThresholdEntries: number;
  compactKeepEntries: number;
  log?: Logger;
  /** The cluster's record for replica GC (PD's role); absent: no replica GC, as before. */
  isRemoved?: (q: ReplicaGcQuery) => Promise<boolean | null>;
  /** The record's current version of a range (clusterVersion); absent: unknown. */
  rangeVersion?: (rangeId: number) => Promise<number | null>;
  replicaGc?: Partial<ReplicaGcLimits>;
}

export class SimStore {
  readonly disk: MemDisk;
  store: KvStore | null = null;
  /** Times the store started (1 + restarts). */
  incarnations = 0;
  /** A slow disk: fsync times multiplied by this. */
  slowFactor = 1;
  /** Replicas replica GC destroyed in earlier incarnations. */
  private collectedBefore = 0;

  constructor(
    readonly id: number,
    private readonly world: SimWorld,
    private readonly net: SimNetwork,
    private readonly prng: Prng,
    private readonly settings: SimStoreSettings,
  ) {
    this.disk = new MemDisk({ name: `store-${id}` });
  }

  /** The engine over this store's disk, on the world's clock, with the simulated fsync time. */
  private openEngine(): Promise<StorageEngine> {
    const s = this.settings;
    return StorageEngine.openOnDisk(this.disk, {
      clock: this.world.clockFor(this.id),
      syncDelay: () => (s.syncMsMin + this.prng.int(s.syncMsMax - s.syncMsMin + 1)) * this.slowFactor,
    });
  }

  /** Removed replicas replica GC destroyed on this store, over all its incarnations. */
  get replicasCollected(): number {
    return this.collectedBefore + (this.store?.host.replicaGc?.counters.replicasCollected ?? 0);
  }

  get running(): boolean {
    return this.store !== null;
  }

  /** Writes the initial ranges (all on the given stores, replica id = store id) into the empty disk. */
  async bootstrap(descriptors: readonly RangeDescriptor[]): Promise<void> {
    const engine = await this.openEngine();
    for (const d of descriptors) {
      const voters = d.replicas.filter((r) => r.role === ReplicaRole.Voter).map((r) => r.replicaId);
      await engine.createRange({ descriptor: d, confState: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } });
    }
    await engine.close();
  }

  async start(): Promise<void> {
    if (this.store !== null) throw new Error(`store ${this.id} is running`);
    const s = this.settings;
    const incarnation = new Uint8Array(4);
    new DataView(incarnation.buffer).setUint32(0, this.prng.nextUint32());
    const host = await RaftHost.open<KvResult>({
      storeId: this.id,
      engine: () => this.openEngine(),
      transport: this.net.transport(this.id),
      clock: this.world.clockFor(this.id),
      randomSeed: () => this.prng.int(0x7fffffff),
      timing: s.timing,
      raft: { checkQuorum: true, preVote: true },
      logCompaction: { logCompactionThresholdEntries: s.compactThresholdEntries, logCompactionKeepEntries: s.compactKeepEntries, logCompactionCheckTicks: 5 },
      uninitialized: { uninitializedIdleMs: 60_000 },
      ...(s.isRemoved ? { isRemoved: s.isRemoved } : {}),
      ...(s.rangeVersion ? { rangeVersion: s.rangeVersion } : {}),
      ...(s.replicaGc ? { replicaGc: s.replicaGc } : {}),
      log: s.log ?? silentLogger,
    });
    const store = new KvStore({
      storeId: this.id, host, limits: resolveStoreLimits({ proposalTimeoutMs: 3_000, readTimeoutMs: 3_000, mergeCatchUpMs: 1_000, mergeFrozenTimeoutMs: 3_000 }), log: s.log ?? silentLogger,
      applyWorkers: 0, incarnation, storeKnown: (sid) => sid >= 1 && sid <= 5,
      ids: host.engine.idAllocator('range', storeIdSpace(this.id)),
    });
    this.store = store;
    this.incarnations++;
    await store.start();
  }

  /**
   * kill -9 and power loss: every pending event of the store is dropped, the network sees
   * it go away, and the disk loses what was not durable (`keepUnsynced` of the non-durable
   * writes survive, in order, as a kill that the OS outlives would keep them).
   */
  crash(keepUnsynced = 0): void {
    if (this.store === null) return;
    this.collectedBefore = this.replicasCollected;
    this.world.crash(this.id);
    this.net.down(this.id);
    this.disk.crash({ keepUnsynced });
    this.store = null;
  }
}

/**
 * The cluster's record for replica GC, standing in for PD (store's `PdLink.replicaRemoved`):
 * the newest descriptor of the range (greatest confVer) that a running leader of it holds
 * (PD learns descriptors from leaders; a stale replica's own view is not the record). A
 * replica is removed when that descriptor is newer than its own and does not name it, or
 * when another range a running store holds has its start key at a newer version (it merged
 * away while this replica was not there to apply it: store's `mergedAway`; PD answers so for
 * a range it no longer knows). Anything else gets no answer (null), and the replica stays.
 */
export function clusterRecord(stores: () => readonly SimStore[]): (q: ReplicaGcQuery) => Promise<boolean | null> {
  return async (q) => {
    let newest: RangeDescriptor | null = null;
    for (const s of stores()) {
      for (const r of s.store?.host.scheduler.all() ?? []) {
        const d = r.log.descriptor;
        if (d === null) continue;
        if (q.span !== undefined && mergedAway(q.rangeId, q.span, d)) return true;
        if (r.rangeId === q.rangeId && r.isLeader && (newest === null || d.epoch.confVer > newest.epoch.confVer)) newest = d;
      }
    }
    return newest === null ? null : removedByDescriptor(q, { confVer: newest.epoch.confVer, replicaIds: newest.replicas.map((r) => r.replicaId) });
  };
}

/** The record's current version of a range, standing in for PD: its running leader's descriptor version (null: no leader now). */
export function clusterVersion(stores: () => readonly SimStore[]): (rangeId: number) => Promise<number | null> {
  return async (rangeId) => {
    for (const s of stores()) {
      const r = s.store?.host.scheduler.get(rangeId);
      if (r?.isLeader && r.log.descriptor) return r.log.descriptor.epoch.version;
    }
    return null;
  };
}
