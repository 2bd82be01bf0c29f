// RangeLogStore: one range's durable raft state as the raft core reads it (RaftStorage),
// plus the range's applied state and descriptor. Reads are synchronous: the log tail
// comes from an in-memory cache, older entries from the Db (RocksDB: synchronous MultiGet/iterator).
//
// It reflects only what is durable: the persist path (persist-ready.ts) writes through the
// log writer and calls the `onXxxDurable` methods once the write is fsynced, in order.
//
//   truncated.index | firstIndex ... [RocksDB] ... cache.first ... [cache] ... lastIndex
import {
  CompactedError, UnavailableError, entrySizeBytes,
  type ConfState, type Entry, type HardState, type RaftStorage, type Snapshot,
} from '@rangekv/raft';
import type { RangeDescriptor } from '@rangekv/proto/range-descriptor';
import { ColumnFamily } from './column-families.js';
import { decodeEntry, decodeEntryTerm } from './encoding.js';
import { UnknownRangeError, invariant } from './errors.js';
import { entryKey, parseEntryKey } from './keys.js';
import { LogCache, type CacheBudget } from './log-cache.js';
import type { StorageLimits } from './limits.js';
import type { AppliedState, MergeFreeze, MergeOutcome, TruncatedState } from './records.js';
import type { Db } from './db.js';
import { encodeSnapshotRef } from './snapshot-ref.js';

/** Everything loaded for one range at open (or created for a new one). */
export interface RangeState {
  rangeId: number;
  /** null = uninitialized (created to receive a snapshot; owns no keys yet). */
  descriptor: RangeDescriptor | null;
  hardState: HardState;
  confState: ConfState;
  applied: AppliedState;
  truncated: TruncatedState;
  lastIndex: number;
  lastTerm: number;
  /** Set while a merge freezes the range (records.ts). */
  mergeFreeze?: MergeFreeze | null;
  /** How merges planned against this range were decided (records.ts). */
  mergeOutcomes?: readonly MergeOutcome[];
}

export interface LogStoreStats {
  cacheHits: number;
  /** Reads that went to RocksDB (one per term() miss or entries() call below the cache). */
  diskReads: number;
}

export class RangeLogStore implements RaftStorage {
  readonly rangeId: number;
  private desc: RangeDescriptor | null;
  private freeze: MergeFreeze | null;
  private outcomes: readonly MergeOutcome[];
  private hs: HardState;
  private conf: ConfState;
  private appliedState: AppliedState;
  private trunc: TruncatedState;
  private last: number;
  private lastT: number;
  /**
   * Highest index any submitted write may have put in RocksDB (durable or not). A write that
   * ends below it must delete the keys above, or a restart would find a stale suffix.
   */
  maxWrittenIndex: number;
  /** Persist requests submitted and not yet durable (keeps empty Readies in order). */
  persistsInFlight = 0;
  /**
   * The hard state acknowledged to raft but not written yet (a Ready that only moved the
   * commit index, persist-ready.ts deferReady); null once written or superseded.
   */
  deferredHardState: HardState | null = null;
  /** Set while an ingest or destroy owns the range; other writers must not touch it. */
  busy: 'ingest' | 'destroy' | null = null;
  private destroyed = false;
  private readonly cache: LogCache;
  readonly stats: LogStoreStats = { cacheHits: 0, diskReads: 0 };

  constructor(private readonly db: Db, st: RangeState, limits: StorageLimits, budget: CacheBudget) {
    this.rangeId = st.rangeId;
    this.desc = st.descriptor;
    this.freeze = st.mergeFreeze ?? null;
    this.outcomes = st.mergeOutcomes ?? [];
    this.hs = { ...st.hardState };
    this.conf = st.confState;
    this.appliedState = { ...st.applied };
    this.trunc = { ...st.truncated };
    this.last = st.lastIndex;
    this.lastT = st.lastTerm;
    this.maxWrittenIndex = st.lastIndex;
    this.cache = new LogCache(st.rangeId, limits.maxCachedEntries, limits.maxCacheBytes, budget);
    invariant(this.last >= this.trunc.index, () => `range ${this.rangeId}: last index ${this.last} below truncated index ${this.trunc.index}`);
  }

  // --- RaftStorage ---

  initialState(): { hardState: HardState; confState: ConfState } {
    this.checkAlive('initialState');
    return { hardState: { ...this.hs }, confState: this.conf };
  }

  firstIndex(): number {
    return this.trunc.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  term(index: number): number {
    if (index === this.last) return this.lastT;
    if (index === this.trunc.index) return this.trunc.term;
    if (index < this.trunc.index) throw new CompactedError(index, this.trunc.index + 1);
    if (index > this.last) throw new UnavailableError(index, this.last);
    const e = this.cache.get(index);
    if (e !== undefined) {
      this.stats.cacheHits++;
      return e.term;
    }
    this.checkAlive('term');
    this.stats.diskReads++;
    const v = this.db.get(ColumnFamily.Raft, entryKey(this.rangeId, index));
    invariant(v !== undefined, () => `range ${this.rangeId}: log entry ${index} missing in [${this.firstIndex()}, ${this.last}] (a gap)`);
    return decodeEntryTerm(v);
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.trunc.index) throw new CompactedError(lo, this.trunc.index + 1);
    if (hi > this.last + 1) throw new UnavailableError(hi - 1, this.last);
    const out: Entry[] = [];
    if (lo >= hi) return out;
    let bytes = 0;
    const cacheFirst = this.cache.length > 0 ? this.cache.first : this.last + 1;
    if (lo < cacheFirst) {
      this.checkAlive('entries');
      this.stats.diskReads++;
      const end = Math.min(hi, cacheFirst);
      const cur = this.db.cursor(ColumnFamily.Raft, { gte: entryKey(this.rangeId, lo), lt: entryKey(this.rangeId, end) }, 64);
      try {
        let want = lo;
        for (let kv = cur.next(); kv !== null; kv = cur.next()) {
          const { index } = parseEntryKey(kv.key);
          invariant(index === want, () => `range ${this.rangeId}: log gap: expected entry ${want}, found ${index}`);
          const e = decodeEntry(index, kv.value);
          bytes += entrySizeBytes(e);
          if (out.length > 0 && bytes > maxBytes) return out;
          out.push(e);
          want++;
        }
        invariant(want === end, () => `range ${this.rangeId}: log gap: entries [${want}, ${end}) missing`);
      } finally {
        cur.close();
      }
      if (end === hi) return out;
    } else {
      this.stats.cacheHits++;
    }
    for (let i = Math.max(lo, cacheFirst); i < hi; i++) {
      const e = this.cache.get(i)!;
      bytes += entrySizeBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /**
   * Metadata of the snapshot this range would send now: its applied index/term and the
   * configuration at that index. `data` is only a build request (a SnapshotRef with no
   * staging id): the sender builds the real data with SnapshotSource, whose consistent view
   * may be at a later applied index, and sends that meta instead (see README).
   */
  snapshot(): Snapshot | null {
    if (this.desc === null || this.appliedState.index === 0 || this.destroyed) return null;
    const { index, term } = this.appliedState;
    return {
      meta: { index, term, confState: this.conf },
      data: encodeSnapshotRef({ rangeId: this.rangeId, index, term, stagingId: '' }),
    };
  }

  // --- range state ---

  get descriptor(): RangeDescriptor | null {
    return this.desc;
  }

  /** How merges planned against this range were decided, oldest first (records.ts). */
  get mergeOutcomes(): readonly MergeOutcome[] {
    return this.outcomes;
  }

  /** Non-null while a merge freezes this range (written at the Freeze entry's apply). */
  get mergeFreeze(): MergeFreeze | null {
    return this.freeze;
  }

  get hardState(): HardState {
    return { ...this.hs };
  }

  get confState(): ConfState {
    return this.conf;
  }

  get applied(): AppliedState {
    return { ...this.appliedState };
  }

  /** `applied.index` without the copy (hot paths: every apply, lease read and compaction check). */
  get appliedIndex(): number {
    return this.appliedState.index;
  }

  get truncated(): TruncatedState {
    return { ...this.trunc };
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  get cachedEntries(): { first: number; last: number; count: number; bytes: number } {
    return { first: this.cache.first, last: this.cache.last, count: this.cache.length, bytes: this.cache.bytes };
  }

  checkAlive(what: string): void {
    if (this.destroyed) throw new UnknownRangeError(this.rangeId, what);
  }

  // --- after durability (called in write order) ---

  onEntriesDurable(es: readonly Entry[]): void {
    if (es.length === 0) return;
    const first = es[0]!;
    const tail = es[es.length - 1]!;
    invariant(first.index > this.trunc.index && first.index <= this.last + 1,
      () => `range ${this.rangeId}: durable entries start at ${first.index}, log is [${this.firstIndex()}, ${this.last}]`);
    this.last = tail.index;
    this.lastT = tail.term;
    this.cache.put(es);
    invariant(this.cache.length === 0 || this.cache.last === this.last, 'log cache must end at the last index');
  }

  onHardStateDurable(hs: HardState): void {
    this.hs = { ...hs };
  }

  onCompacted(t: TruncatedState): void {
    invariant(t.index > this.trunc.index && t.index <= this.last, () => `range ${this.rangeId}: compaction to ${t.index} outside (${this.trunc.index}, ${this.last}]`);
    this.trunc = { ...t };
    this.cache.compactTo(t.index);
  }

  /** A snapshot was installed: the log now starts after it and is empty. */
  onSnapshotDurable(st: {
    descriptor: RangeDescriptor; applied: AppliedState; confState: ConfState; hardState: HardState; mergeFreeze: MergeFreeze | null; mergeOutcomes: readonly MergeOutcome[];
  }): void {
    this.desc = st.descriptor;
    this.freeze = st.mergeFreeze;
    this.outcomes = st.mergeOutcomes;
    this.appliedState = { ...st.applied };
    this.conf = st.confState;
    this.hs = { ...st.hardState };
    this.trunc = { ...st.applied };
    this.last = st.applied.index;
    this.lastT = st.applied.term;
    this.cache.clear();
  }

  /** `mergeFreeze` undefined: unchanged. */
  onApplied(
    applied: AppliedState, confState: ConfState | null, descriptor: RangeDescriptor | null, mergeFreeze?: MergeFreeze | null, mergeOutcomes?: readonly MergeOutcome[],
  ): void {
    this.appliedState = { ...applied };
    if (confState) this.conf = confState;
    if (descriptor) this.desc = descriptor;
    if (mergeFreeze !== undefined) this.freeze = mergeFreeze;
    if (mergeOutcomes !== undefined) this.outcomes = mergeOutcomes;
  }

  markDestroyed(): void {
    this.destroyed = true;
    this.cache.dispose();
  }
}
