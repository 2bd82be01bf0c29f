// Collection of removed replicas (replica GC; CockroachDB's replica GC queue, TiKV's stale
// peer check). A replica removed from its range while its store was away (down,
// partitioned) never applies the change that removed it, so nothing tells it to go: it
// campaigns in vain for ever, keeps its span's data, and blocks every snapshot of an
// overlapping range on this store (snapshot-shipper.ts refuses overlaps).
//
// Every replicaGcIntervalMs the host looks at its initialized replicas that are not leader
// and know no leader (a removed replica never hears one: the members refuse its elections).
// One seen so on two rounds in a row is a suspect (an election in progress is not); at most
// maxReplicaGcChecks suspects per round (round-robin by range id) are checked with the
// cluster's record, `isRemoved` (the store asks PD). It answers true only when the record
// holds a newer configuration of the range (greater confVer) without this replica's id,
// or no longer holds the range while a range of a newer version covers its span (it
// merged away while this replica was not there to apply it).
// That is final: replica ids are never reused, so the replica can never be a member again;
// it is destroyed with its data. No answer, or any doubt, keeps it.
//
// A replica that refuses a snapshot of another range for overlapping it is checked at
// once (checkSoon), without waiting for two rounds and whether or not it knows a leader:
// the overlap is what makes a removed replica costly, and a removed replica that was
// quiescent when its store went away still names its old leader (it does not tick, so it
// never campaigns and never forgets it; the store simulation found a range whose new
// replica waited for ever behind one). A store back from a crash during which a range was
// split and its left half's replica here moved away holds the stale left half; the right
// half's replica here can only be filled once it is gone, and until then that range runs
// on two voters of three (the nemesis' kill-after-restart found it: 10-20 s after the
// restart, a second store's loss stopped the range until that store came back).
//
// A merge needs its source: the left range's replica on a store applies the merge with the
// right range's replica there (caught up to the freeze). So a replica that the record calls
// removed is kept while the replica before it on this store (greatest start key below its
// own) is not the record's current version of its range (CockroachDB's replica GC queue
// does the same): that neighbour may still apply a merge that needs this one, and failed
// for good when a collected source was missing (the store simulation, seed 181386). Once
// the neighbour catches up (or is collected itself: it is asked about at once, as it may
// be the stale one), a later round takes this one.
//
//   const gc = new ReplicaGc({ replicas, isRemoved, rangeVersion, preceding, destroy, log, now }, limits);
//   await gc.round();   // on a timer (raft-host.ts)
//   gc.checkSoon(r);    // r overlaps a snapshot this store refused (snapshot-shipper.ts)
import type { Logger } from '@rangekv/runtime';
import type { Replica } from './replica.js';

export interface ReplicaGcLimits {
  /** How often suspects are looked for and checked. */
  replicaGcIntervalMs: number;
  /** Suspects checked with the record per round. */
  maxReplicaGcChecks: number;
  /** checkSoon: one range is checked at most this often (a refused snapshot is retried every ~100 ms). */
  replicaGcOverlapCheckMs: number;
}

export const DEFAULT_REPLICA_GC_LIMITS: Readonly<ReplicaGcLimits> = Object.freeze({
  replicaGcIntervalMs: 10_000,
  maxReplicaGcChecks: 64,
  replicaGcOverlapCheckMs: 1_000,
});

/** Ranges remembered by checkSoon's rate limit; beyond it the oldest are forgotten. */
const MAX_OVERLAP_CHECKS_REMEMBERED = 1_024;

/** What the record is asked about a replica: its range, its id and the confVer of its descriptor. */
export interface ReplicaGcQuery {
  rangeId: number;
  replicaId: number;
  confVer: number;
  /** The replica's span and epoch version: a range PD no longer knows may have merged into one covering it. */
  span?: { startKey: Uint8Array; endKey: Uint8Array; version: number };
}

export interface ReplicaGcDeps<R> {
  replicas(): Iterable<Replica<R>>;
  /** true: removed for good (destroy); false: still a member; null: cannot tell now. */
  isRemoved(q: ReplicaGcQuery): Promise<boolean | null>;
  /** The record's current epoch version of a range; null when it cannot tell (or the range is gone). */
  rangeVersion(rangeId: number): Promise<number | null>;
  /** The initialized replica on this store with the greatest start key below `r`'s, if any. */
  preceding(r: Replica<R>): Replica<R> | undefined;
  /** Destroys this replica (with its data) if it is still the range's replica here and nothing here needs it; whether it did. */
  destroy(r: Replica<R>): Promise<boolean>;
  log: Logger;
  /** Milliseconds, monotonic (checkSoon's rate limit); default Date.now. */
  now?: () => number;
}

export interface ReplicaGcCounters {
  /** Suspects checked with the record. */
  replicaGcChecks: number;
  /** Removed replicas destroyed. */
  replicasCollected: number;
  /** Removed replicas kept because the replica before them here was not current (a merge may need them). */
  keptForMerge: number;
}

function initializedFollower<R>(r: Replica<R>): boolean {
  return !r.destroyed && !r.isLeader && r.log.descriptor !== null;
}

function leaderless<R>(r: Replica<R>): boolean {
  return initializedFollower(r) && r.lead === 0;
}

export class ReplicaGc<R> {
  readonly counters: ReplicaGcCounters = { replicaGcChecks: 0, replicasCollected: 0, keptForMerge: 0 };
  /** Ranges seen leaderless at the previous round, with the replica id seen. */
  private seen = new Map<number, number>();
  /** The last range id checked: the next round starts after it. */
  private cursor = 0;
  private running = false;
  /** checkSoon: when each range was last checked (insertion order: oldest first). */
  private readonly overlapChecked = new Map<number, number>();
  /** checkSoon: ranges being checked now. */
  private readonly checking = new Set<number>();

  constructor(private readonly d: ReplicaGcDeps<R>, readonly limits: ReplicaGcLimits = DEFAULT_REPLICA_GC_LIMITS) {
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`replica GC limit ${k} must be a positive integer, got ${String(v)}`);
    }
  }

  /** One round; returns the replicas destroyed (0 when a round is still running). */
  async round(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const now = new Map<number, Replica<R>>();
      for (const r of this.d.replicas()) if (leaderless(r)) now.set(r.rangeId, r);
      const suspects = [...now.values()].filter((r) => this.seen.get(r.rangeId) === r.node.id).sort((a, b) => a.rangeId - b.rangeId);
      this.seen = new Map([...now.values()].map((r) => [r.rangeId, r.node.id]));
      const start = suspects.findIndex((r) => r.rangeId > this.cursor);
      const ordered = start < 0 ? suspects : [...suspects.slice(start), ...suspects.slice(0, start)];
      let destroyed = 0;
      for (const r of ordered.slice(0, this.limits.maxReplicaGcChecks)) {
        this.cursor = r.rangeId;
        if (await this.check(r, leaderless)) destroyed++;
      }
      return destroyed;
    } finally {
      this.running = false;
    }
  }

  /**
   * `r` overlaps a snapshot this store just refused: check it with the record now, leader
   * known or not (at most once per replicaGcOverlapCheckMs per range; one check per range
   * at a time), and destroy it if it was removed. Resolves to whether it was destroyed.
   */
  async checkSoon(r: Replica<R>): Promise<boolean> {
    if (!initializedFollower(r) || this.checking.has(r.rangeId)) return false;
    const now = (this.d.now ?? Date.now)();
    const last = this.overlapChecked.get(r.rangeId);
    if (last !== undefined && now - last < this.limits.replicaGcOverlapCheckMs) return false;
    this.overlapChecked.delete(r.rangeId);
    this.overlapChecked.set(r.rangeId, now);
    if (this.overlapChecked.size > MAX_OVERLAP_CHECKS_REMEMBERED) this.overlapChecked.delete(this.overlapChecked.keys().next().value!);
    this.checking.add(r.rangeId);
    try {
      return await this.check(r, initializedFollower);
    } finally {
      this.checking.delete(r.rangeId);
    }
  }

  /** Asks the record about `r`; destroys it if removed and `r` still passes `still` (and has the same id). */
  private async check(r: Replica<R>, still: (r: Replica<R>) => boolean): Promise<boolean> {
    const d = r.log.descriptor!;
    const q: ReplicaGcQuery = {
      rangeId: r.rangeId, replicaId: r.node.id, confVer: d.epoch.confVer, span: { startKey: d.startKey, endKey: d.endKey, version: d.epoch.version },
    };
    this.counters.replicaGcChecks++;
    let removed: boolean | null;
    try {
      removed = await this.d.isRemoved(q);
    } catch (e) {
      this.d.log.debug('replica GC: the record could not be asked', { ...q, err: e });
      return false;
    }
    // Still the same replica, still as it was when asked (a round: without a leader): then it goes.
    if (removed !== true || !still(r) || r.node.id !== q.replicaId) return false;
    const p = this.d.preceding(r);
    if (p !== undefined && !(await this.current(p))) {
      this.counters.keptForMerge++;
      this.d.log.debug('replica GC: removed, kept while the replica before it here is not current (a merge may need it)', { ...q, preceding: p.rangeId });
      // That neighbour may be the stale one, removed itself: ask about it now (CockroachDB
      // queues it too), or this replica could wait for ever behind one that is never a
      // suspect (it names a leader) and in no snapshot's way.
      void this.checkSoon(p).catch((e: unknown) => this.d.log.debug('replica GC: checking the replica before a kept one failed', { rangeId: p.rangeId, err: e }));
      return false;
    }
    if (!still(r) || r.node.id !== q.replicaId) return false;
    this.d.log.info('replica GC: this replica was removed from its range while away; destroying it', { ...q });
    if (!(await this.d.destroy(r))) return false;
    this.seen.delete(r.rangeId);
    this.counters.replicasCollected++;
    return true;
  }

  /** Whether replica `p` is the record's current version of its range (a destroyed or uninitialized one does not count). */
  private async current(p: Replica<R>): Promise<boolean> {
    if (p.destroyed || p.log.descriptor === null) return true;
    let v: number | null;
    try {
      v = await this.d.rangeVersion(p.rangeId);
    } catch {
      return false;
    }
    return v !== null && p.log.descriptor !== null && v === p.log.descriptor.epoch.version;
  }
}

/** The record's answer from its descriptor of the range: removed when it is newer and lacks the replica. */
export function removedByDescriptor(q: ReplicaGcQuery, d: { confVer: number; replicaIds: readonly number[] }): boolean {
  return d.confVer > q.confVer && !d.replicaIds.includes(q.replicaId);
}
