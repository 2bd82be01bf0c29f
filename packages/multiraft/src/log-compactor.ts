// Store-driven raft log compaction: every `logCompactionCheckTicks` ticks, each range
// whose log holds more than `logCompactionThresholdEntries` applied entries is compacted
// with `engine.compactLog(rangeId, index)` (truncated state moves durably; the entries are
// deleted in the background by the engine).
//
// Which index (chooseCompactIndex), in the spirit of TiKV's raft-log GC tick (the leader
// compacts only what every healthy follower has, unless a follower is so far behind that a
// snapshot is cheaper than the log) and etcd's "keep a tail of applied entries for slow
// followers" (etcd keeps SnapshotCatchUpEntries behind the snapshot index):
//
//   candidate = applied - logCompactionKeepEntries
//   leader:  for each follower f with applied - match(f) <= maxFollowerLagEntries:
//              candidate = min(candidate, match(f))      (f still needs match(f)+1...)
//            a follower further behind does not hold compaction back: it gets a snapshot.
//   compact to candidate when candidate >= firstIndex (something to drop); else nothing.
//
// Worked example: firstIndex 1, applied 1,000, keep 100, lag bound 500, followers at
// match 990 and 300: 300 is 700 behind (> 500) so it is ignored; candidate =
// min(1,000 - 100, 990) = 900; entries 1..900 go, 300's next append needs a snapshot.
// With the followers at 990 and 600 (400 behind), candidate = 600: nothing it needs goes.
import type { RaftScheduler } from './raft-scheduler.js';
import type { Logger } from '@rangekv/runtime';
import type { StorageEngine } from '@rangekv/storage';

export interface LogCompactionLimits {
  /** Check every range this often, in raft ticks (0 = never compact). */
  logCompactionCheckTicks: number;
  /** Compact a range once more than this many applied entries sit in its log. */
  logCompactionThresholdEntries: number;
  /** Entries kept behind the applied index after compaction (for slow followers). */
  logCompactionKeepEntries: number;
  /** A follower further behind the leader's applied index than this many entries does not
   *  hold compaction back (it catches up by snapshot). */
  maxFollowerLagEntries: number;
}

export const DEFAULT_LOG_COMPACTION_LIMITS: Readonly<LogCompactionLimits> = Object.freeze({
  logCompactionCheckTicks: 20,
  logCompactionThresholdEntries: 10_000,
  logCompactionKeepEntries: 1_000,
  maxFollowerLagEntries: 50_000,
});

export function resolveLogCompactionLimits(p: Partial<LogCompactionLimits> | undefined): LogCompactionLimits {
  const d = DEFAULT_LOG_COMPACTION_LIMITS;
  const l: LogCompactionLimits = {
    logCompactionCheckTicks: p?.logCompactionCheckTicks ?? d.logCompactionCheckTicks,
    logCompactionThresholdEntries: p?.logCompactionThresholdEntries ?? d.logCompactionThresholdEntries,
    logCompactionKeepEntries: p?.logCompactionKeepEntries ?? d.logCompactionKeepEntries,
    maxFollowerLagEntries: p?.maxFollowerLagEntries ?? d.maxFollowerLagEntries,
  };
  for (const [name, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`log compaction limit ${name} must be a non-negative integer, got ${String(v)}`);
  }
  return l;
}

export interface CompactionInput {
  /** First index still in the log (truncated index + 1). */
  firstIndex: number;
  applied: number;
  /** Leader only: each follower's match index (not the leader's own). Null on a follower. */
  followerMatches: readonly number[] | null;
}

/** The index to compact the log through, or null to leave it alone (see file comment). */
export function chooseCompactIndex(x: CompactionInput, l: LogCompactionLimits): number | null {
  if (x.applied - x.firstIndex + 1 <= l.logCompactionThresholdEntries) return null;
  let candidate = x.applied - l.logCompactionKeepEntries;
  if (x.followerMatches !== null) {
    for (const m of x.followerMatches) {
      if (x.applied - m <= l.maxFollowerLagEntries) candidate = Math.min(candidate, m);
    }
  }
  return candidate >= x.firstIndex ? candidate : null;
}

export interface LogCompactorCounters {
  logCompactions: number;
  logEntriesCompacted: number;
  logCompactionsFailed: number;
}

export class LogCompactor<R> {
  private ticks = 0;
  private readonly inFlight = new Map<number, Promise<void>>();
  private stopped = false;
  readonly counters: LogCompactorCounters;

  constructor(
    private readonly engine: StorageEngine,
    private readonly scheduler: RaftScheduler<R>,
    readonly limits: LogCompactionLimits,
    private readonly log: Logger,
    /** Where to count (the store's counters object); default: a private one. */
    counters?: LogCompactorCounters,
  ) {
    this.counters = counters ?? { logCompactions: 0, logEntriesCompacted: 0, logCompactionsFailed: 0 };
  }

  /** On every store tick; checks all ranges every logCompactionCheckTicks ticks. */
  tick(): void {
    if (this.stopped || this.limits.logCompactionCheckTicks === 0) return;
    if (++this.ticks < this.limits.logCompactionCheckTicks) return;
    this.ticks = 0;
    this.checkAll();
  }

  /** One pass over every range (also for tests). */
  checkAll(): void {
    const l = this.limits;
    for (const r of this.scheduler.all()) {
      // Not while an apply runs: the storage's applied index moves ahead of raft's during
      // it (raft hears appliedTo when the whole batch is done, which a merge may hold for a
      // while), and raft must never find entries it has not applied compacted away.
      if (r.destroyed || r.blocked || r.applying || this.inFlight.has(r.rangeId) || r.log.descriptor === null) continue;
      const applied = r.log.appliedIndex;
      const firstIndex = r.log.firstIndex();
      // Cheap filter before asking raft for progress (a map per call).
      if (applied - firstIndex + 1 <= l.logCompactionThresholdEntries) continue;
      let followerMatches: number[] | null = null;
      if (r.isLeader) {
        const st = r.node.status();
        if (st.progress !== null) {
          followerMatches = [];
          for (const [id, pr] of st.progress) if (id !== r.node.id) followerMatches.push(pr.match);
        }
      }
      const index = chooseCompactIndex({ firstIndex, applied, followerMatches }, l);
      if (index === null) continue;
      this.compact(r.rangeId, index, firstIndex);
    }
  }

  private compact(rangeId: number, index: number, firstIndex: number): void {
    const p = this.engine.compactLog(rangeId, index).then(
      () => {
        this.counters.logCompactions++;
        this.counters.logEntriesCompacted += index - firstIndex + 1;
        this.log.debug('log compacted', { rangeId, through: index });
      },
      (e: unknown) => {
        // A range busy (ingesting) or destroyed meanwhile, or the engine closing: try again later.
        this.counters.logCompactionsFailed++;
        this.log.debug('log compaction skipped', { rangeId, index, err: e });
      },
    ).finally(() => this.inFlight.delete(rangeId));
    this.inFlight.set(rangeId, p);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight.values()]);
  }
}
