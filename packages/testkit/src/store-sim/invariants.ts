// Safety invariants of the whole-store simulation, checked after every event:
// - one leader per range and term, ever (election safety, across crashes and restarts);
// - a replica never applied an entry that was not committed and durable in its own log
//   (applied <= min(commit, last durable index));
// - the ranges one store holds never overlap, and the newest descriptor of every range
//   (as any store knows it) never overlaps another range's newest, except that a merged
//   range's newest covers the range merged into it with a higher version (that range is
//   merged away from then on: a replica of it a lagging store still holds is not newer);
// - no replica failed (a committed entry it could not apply) and no host stopped on a
//   fatal error.
// Acknowledged writes that were lost show up in the linearizability check of the history.
import type { RangeDescriptor } from '@rangekv/proto';
import { StateRole } from '@rangekv/raft';
import { spanContains } from '@rangekv/storage';
import type { SimStore } from './sim-store.js';

function key(k: Uint8Array): Buffer {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength);
}

function overlaps(a: RangeDescriptor, b: RangeDescriptor): boolean {
  const aBeforeBEnd = b.endKey.length === 0 || Buffer.compare(key(a.startKey), key(b.endKey)) < 0;
  const bBeforeAEnd = a.endKey.length === 0 || Buffer.compare(key(b.startKey), key(a.endKey)) < 0;
  return aBeforeBEnd && bBeforeAEnd;
}

function show(d: RangeDescriptor): string {
  const k = (b: Uint8Array): string => (b.length === 0 ? '∞' : key(b).toString('latin1'));
  return `r${d.rangeId}[${d.startKey.length === 0 ? '-∞' : k(d.startKey)},${k(d.endKey)})v${d.epoch.version}`;
}

export class InvariantChecker {
  /** `${rangeId}@${term}` -> store id of the leader seen. */
  private readonly leaders = new Map<string, number>();
  /** Newest descriptor seen per range. */
  private readonly newest = new Map<number, RangeDescriptor>();
  leaderElections = 0;
  /** Merges seen: a newest descriptor covering another range's with a higher version. */
  merges = 0;
  private readonly mergedAway = new Set<number>();
  /** The descriptors each store held at the last check (identity): unchanged ones are not checked again. */
  private readonly lastSeen = new Map<number, RangeDescriptor[]>();

  /** Throws an Error naming the broken invariant. */
  check(stores: readonly SimStore[]): void {
    for (const s of stores) {
      const ks = s.store;
      if (ks === null) continue;
      const host = ks.host;
      if (host.fatal !== null) throw new Error(`store ${s.id} stopped on a fatal error: ${String(host.fatal)}`);
      for (const [rangeId, reason] of host.failedRanges) throw new Error(`store ${s.id}: replica of range ${rangeId} failed: ${reason}`);
      const mine: RangeDescriptor[] = [];
      for (const r of host.scheduler.all()) {
        const d = r.log.descriptor;
        const st = r.node.basicStatus();
        const applied = r.log.applied.index;
        const commit = st.commit;
        const durableLast = r.log.lastIndex();
        if (applied > commit || applied > durableLast) {
          throw new Error(`store ${s.id}, range ${r.rangeId}: applied ${applied} is beyond the commit ${commit} or the durable log's last index ${durableLast}`);
        }
        if (st.role === StateRole.Leader) {
          const term = st.term;
          const k = `${r.rangeId}@${term}`;
          const prev = this.leaders.get(k);
          if (prev === undefined) {
            this.leaders.set(k, s.id);
            this.leaderElections++;
          } else if (prev !== s.id) {
            throw new Error(`range ${r.rangeId} has two leaders in term ${term}: stores ${prev} and ${s.id}`);
          }
        }
        if (d !== null) mine.push(d);
      }
      const before = this.lastSeen.get(s.id);
      if (before !== undefined && before.length === mine.length && before.every((d, i) => d === mine[i])) continue;
      this.lastSeen.set(s.id, mine);
      for (let i = 0; i < mine.length; i++) {
        const d = mine[i]!;
        for (let j = 0; j < i; j++) if (overlaps(mine[j]!, d)) throw new Error(`store ${s.id} holds overlapping ranges ${show(mine[j]!)} and ${show(d)}`);
        if (this.mergedAway.has(d.rangeId)) continue;
        const seen = this.newest.get(d.rangeId);
        if (seen === undefined || d.epoch.version > seen.epoch.version ||
          (d.epoch.version === seen.epoch.version && d.epoch.confVer > seen.epoch.confVer)) {
          this.newest.set(d.rangeId, d);
          this.checkNewest(d);
        }
      }
    }
  }

  private checkNewest(d: RangeDescriptor): void {
    for (const o of [...this.newest.values()]) {
      // A split cuts the left range and creates the right one in one apply batch, so the
      // checker sees the left's new descriptor no later than the right one: the newest
      // descriptors of two ranges never overlap, but after a merge.
      if (o.rangeId === d.rangeId || !overlaps(o, d)) continue;
      const [wide, narrow] = d.epoch.version > o.epoch.version ? [d, o] : [o, d];
      if (wide.epoch.version > narrow.epoch.version && spanContains(wide.startKey, wide.endKey, narrow.startKey, narrow.endKey)) {
        this.newest.delete(narrow.rangeId);
        this.mergedAway.add(narrow.rangeId);
        this.merges++;
        continue;
      }
      throw new Error(`the newest descriptors of two ranges overlap: ${show(o)} and ${show(d)}`);
    }
  }

  /** The newest descriptors seen (for liveness writes: one key per range). */
  ranges(): RangeDescriptor[] {
    return [...this.newest.values()];
  }
}
