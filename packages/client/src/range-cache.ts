// The client's routing table: the ranges it has learned (from PD or from a store's
// EpochNotMatch / KeyNotInRange), kept sorted by start key and never overlapping, each
// with its last known leader store.
//
// A descriptor that overlaps a cached range with the same id and a higher
// epoch.version is stale (PD learns of a split a heartbeat after the stores) and is not
// inserted. Otherwise the newcomer wins: overlapping entries are dropped.
//
// Bounded by `maxCachedRanges`: past it, the least recently used entry is evicted (a
// linear pass, only when full).
import type { RangeInfo } from './types.js';

interface Entry {
  info: RangeInfo;
  lastUsed: number;
}

function cmp(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** True when `key` lies in [start, end) (empty end: unbounded). */
export function rangeContains(r: { startKey: Uint8Array; endKey: Uint8Array }, key: Uint8Array): boolean {
  return cmp(r.startKey, key) <= 0 && (r.endKey.length === 0 || cmp(key, r.endKey) < 0);
}

export class RangeCache {
  /** Sorted by startKey, non-overlapping. */
  private readonly entries: Entry[] = [];
  private readonly byId = new Map<number, Entry>();
  private clock = 0;

  constructor(readonly maxCachedRanges: number) {
    if (!(maxCachedRanges >= 1)) throw new RangeError(`maxCachedRanges must be >= 1, got ${maxCachedRanges}`);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Index of the last entry whose startKey <= key (or < key when `strict`); -1 when none. */
  private floor(key: Uint8Array, strict: boolean): number {
    let lo = 0;
    let hi = this.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = cmp(this.entries[mid]!.info.startKey, key);
      if (c < 0 || (c === 0 && !strict)) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  private touch(e: Entry): RangeInfo {
    e.lastUsed = ++this.clock;
    return e.info;
  }

  /** The cached range holding `key`. */
  lookup(key: Uint8Array): RangeInfo | undefined {
    const i = this.floor(key, false);
    if (i < 0) return undefined;
    const e = this.entries[i]!;
    return rangeContains(e.info, key) ? this.touch(e) : undefined;
  }

  /**
   * The cached range holding the keys just below `end` (exclusive; empty: the end of the
   * keyspace), i.e. where a reverse walk ending at `end` starts.
   */
  lookupBefore(end: Uint8Array): RangeInfo | undefined {
    if (end.length === 0) {
      const last = this.entries[this.entries.length - 1];
      return last && last.info.endKey.length === 0 ? this.touch(last) : undefined;
    }
    const i = this.floor(end, true);
    if (i < 0) return undefined;
    const e = this.entries[i]!;
    return e.info.endKey.length === 0 || cmp(e.info.endKey, end) >= 0 ? this.touch(e) : undefined;
  }

  get(rangeId: number): RangeInfo | undefined {
    return this.byId.get(rangeId)?.info;
  }

  /** Adds `info`, dropping the entries it overlaps, unless one of them is a newer version of the same range. Returns whether it was inserted. */
  insert(info: RangeInfo): boolean {
    const first = Math.max(0, this.floor(info.startKey, false));
    const overlapping: number[] = [];
    for (let i = first; i < this.entries.length; i++) {
      const e = this.entries[i]!.info;
      if (info.endKey.length > 0 && cmp(e.startKey, info.endKey) >= 0) break;
      if (e.endKey.length === 0 || cmp(e.endKey, info.startKey) > 0) {
        if (e.rangeId === info.rangeId && e.epoch.version > info.epoch.version) return false;
        overlapping.push(i);
      }
    }
    // Overlaps are contiguous: remove them back to front.
    for (let k = overlapping.length - 1; k >= 0; k--) {
      const [gone] = this.entries.splice(overlapping[k]!, 1);
      this.byId.delete(gone!.info.rangeId);
    }
    const old = this.byId.get(info.rangeId);
    if (old) this.removeEntry(old);
    const at = this.floor(info.startKey, false) + 1;
    const entry: Entry = { info, lastUsed: ++this.clock };
    this.entries.splice(at, 0, entry);
    this.byId.set(info.rangeId, entry);
    if (this.entries.length > this.maxCachedRanges) this.evictOne(entry);
    return true;
  }

  private removeEntry(e: Entry): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
    this.byId.delete(e.info.rangeId);
  }

  private evictOne(keep: Entry): void {
    let victim: Entry | undefined;
    for (const e of this.entries) if (e !== keep && (!victim || e.lastUsed < victim.lastUsed)) victim = e;
    if (victim) this.removeEntry(victim);
  }

  /** Whether a cached range overlaps `info`'s span. */
  overlaps(info: RangeInfo): boolean {
    const i = Math.max(0, this.floor(info.startKey, false));
    for (let j = i; j < this.entries.length && j <= i + 1; j++) {
      const e = this.entries[j]!.info;
      const startsBeforeEnd = info.endKey.length === 0 || cmp(e.startKey, info.endKey) < 0;
      const endsAfterStart = e.endKey.length === 0 || cmp(e.endKey, info.startKey) > 0;
      if (startsBeforeEnd && endsAfterStart) return true;
    }
    return false;
  }

  /** Forgets a range (RangeNotFound, stale span). */
  remove(rangeId: number): void {
    const e = this.byId.get(rangeId);
    if (e) this.removeEntry(e);
  }

  /** Records the leader's store (0: unknown). */
  setLeader(rangeId: number, storeId: number): void {
    const e = this.byId.get(rangeId);
    if (e) e.info = { ...e.info, leaderStoreId: storeId };
  }

  /** Every cached range, ascending (tests, debugging). */
  all(): RangeInfo[] {
    return this.entries.map((e) => e.info);
  }

  clear(): void {
    this.entries.length = 0;
    this.byId.clear();
  }
}
