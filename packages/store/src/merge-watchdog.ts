// What a store knows about merges besides the replicated state: which of its ranges are
// frozen (and since when), which merges it coordinates now, which ranges merged away
// into which (to re-route their requests), and the watchdog that finishes a merge whose
// coordinator went away (store README, "Merge", step 6).
//
// The watchdog looks at each range frozen here for longer than mergeFrozenTimeoutMs
// that no coordinator on this store is working on, and at the outcome of its merge that
// the left range it names records, on this same store (a merge requires both on the same
// stores; merge-apply.ts):
//   - pending (or no outcome yet): the merge can still commit or abort. If the left replica here leads,
//     it proposes AbortMerge (the left log decides: if CommitMerge came first, the abort
//     changes nothing and the merge completes);
//   - aborted: if the right replica here leads, it proposes Unfreeze;
//   - committed: this right replica is stale; the left range's apply, a snapshot of the
//     left range covering it, or replica GC removes it. It never unfreezes;
//   - no left replica here (moved away, or not created yet): if the right replica here
//     leads, it hands its leadership to the next replica, whose store may hold one.
// It also aborts a merge left pending on a left range it leads for as long (a BeginMerge
// whose coordinator went away before the freeze): the left range could not be merged
// away meanwhile. Every store runs it, so whichever holds the leaders acts. Proposals are
// idempotent.
import type { RaftScheduler, HostClock, Replica, TimerHandle } from '@rangekv/multiraft';
import type { MergeFreeze } from '@rangekv/storage';
import type { Logger } from '@rangekv/runtime';
import { AdminCommandType, encodeAdminCommand } from './admin-command.js';
import type { KvResult } from './kv-state-machine.js';
import { mergeOutcome, pendingMerge } from './merge-apply.js';

/** Merged-away ranges remembered for re-routing their requests (oldest forgotten first). */
export const MAX_MERGED_ROUTES = 4096;

export interface MergeWatchdogOptions {
  scheduler: RaftScheduler<KvResult>;
  clock: HostClock;
  log: Logger;
  /** mergeFrozenTimeoutMs (limits.ts). */
  frozenTimeoutMs: number;
  /** How often the watchdog looks, in ms. */
  intervalMs: number;
}

export class MergeWatchdog {
  private readonly frozenSince = new Map<number, number>();
  /** `${rangeId}/${mergeId}` of a merge pending on a left range led here -> when first seen. */
  private readonly pendingSince = new Map<string, number>();
  private readonly coordinating = new Set<number>();
  private readonly mergedTo = new Map<number, number>();
  private timer: TimerHandle | null = null;
  private stopped = false;
  /** Proposals the watchdog made (tests, logs). */
  readonly stats = { aborts: 0, unfreezes: 0, handOffs: 0 };

  constructor(private readonly o: MergeWatchdogOptions) {}

  /** Finds the ranges frozen here at start (a restart keeps them frozen) and starts looking. */
  start(): void {
    for (const r of this.o.scheduler.all()) {
      if (r.log.descriptor !== null && r.log.mergeFreeze !== null) this.frozenSince.set(r.rangeId, this.o.clock.now());
    }
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.clock.clearTimer(this.timer);
    this.timer = null;
  }

  onFreezeChanged(rangeId: number, freeze: MergeFreeze | null): void {
    if (freeze === null) this.frozenSince.delete(rangeId);
    else this.frozenSince.set(rangeId, this.o.clock.now());
  }

  /** How long `rangeId` has been seen frozen here, in ms (0: not frozen, or not seen yet). */
  frozenForMs(rangeId: number): number {
    const since = this.frozenSince.get(rangeId);
    return since === undefined ? 0 : Math.max(0, this.o.clock.now() - since);
  }

  /** Ranges frozen here now (metrics). */
  get frozenCount(): number {
    return this.frozenSince.size;
  }

  /** Marks both ranges as in a merge coordinated here; false if either already is. */
  begin(leftRangeId: number, rightRangeId: number): boolean {
    if (this.coordinating.has(leftRangeId) || this.coordinating.has(rightRangeId)) return false;
    this.coordinating.add(leftRangeId);
    this.coordinating.add(rightRangeId);
    return true;
  }

  end(leftRangeId: number, rightRangeId: number): void {
    this.coordinating.delete(leftRangeId);
    this.coordinating.delete(rightRangeId);
  }

  /** Whether a merge coordinated here involves `rangeId` (splits and membership changes of it wait). */
  isMerging(rangeId: number): boolean {
    return this.coordinating.has(rangeId);
  }

  noteMerged(rightRangeId: number, leftRangeId: number): void {
    this.mergedTo.set(rightRangeId, leftRangeId);
    if (this.mergedTo.size > MAX_MERGED_ROUTES) this.mergedTo.delete(this.mergedTo.keys().next().value!);
  }

  /** The range `rangeId` merged into on this store, if remembered. */
  mergedInto(rangeId: number): number | undefined {
    return this.mergedTo.get(rangeId);
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = this.o.clock.setTimer(this.o.intervalMs, () => {
      this.timer = null;
      this.look();
      this.arm();
    });
  }

  /** One pass over the frozen ranges (exported for tests through `lookNow`). */
  private look(): void {
    const { scheduler, clock, log } = this.o;
    const now = clock.now();
    // A freeze also arrives by snapshot, which no apply reports: look at every replica.
    const pendingNow = new Set<string>();
    for (const r of scheduler.all()) {
      if (r.destroyed || r.log.descriptor === null) continue;
      if (r.log.mergeFreeze !== null && !this.frozenSince.has(r.rangeId)) this.frozenSince.set(r.rangeId, now);
      const p = r.isLeader && !this.coordinating.has(r.rangeId) ? pendingMerge(r) : undefined;
      if (p === undefined) continue;
      const k = `${r.rangeId}/${p.mergeId}`;
      pendingNow.add(k);
      const since = this.pendingSince.get(k) ?? now;
      this.pendingSince.set(k, since);
      if (now - since >= this.o.frozenTimeoutMs) {
        this.stats.aborts++;
        log.warn('merge pending too long without a coordinator: aborting it', { rangeId: r.rangeId, mergeId: p.mergeId });
        const d = r.log.descriptor;
        const data = encodeAdminCommand({ type: AdminCommandType.AbortMerge, mergeId: p.mergeId, leftConfVer: d.epoch.confVer, leftVersion: d.epoch.version });
        scheduler.propose(r.rangeId, data, () => {}, { broadcastCommit: true });
      }
    }
    for (const k of this.pendingSince.keys()) if (!pendingNow.has(k)) this.pendingSince.delete(k);
    for (const [rangeId, since] of this.frozenSince) {
      const r = scheduler.get(rangeId);
      const f = r?.log.mergeFreeze ?? null;
      if (!r || r.destroyed || f === null) {
        this.frozenSince.delete(rangeId);
        continue;
      }
      if (this.coordinating.has(rangeId) || now - since < this.o.frozenTimeoutMs) continue;
      const l = scheduler.get(f.leftRangeId);
      if (!l || l.destroyed || l.log.descriptor === null) {
        // The left range merged into its own left neighbour since, which took its outcomes
        // (merge-apply.ts), maybe after splitting. A merge id is recorded only by its left
        // range and carried only by the ranges that absorbed it, so a rollback of m recorded
        // on any range here means L decided m aborted: R may unfreeze. Nothing else is
        // decided away from L itself.
        const holder = this.abortRecordedOn(f.mergeId);
        if (holder !== undefined) {
          if (r.isLeader) this.unfreeze(r, f.mergeId, holder.rangeId);
          continue;
        }
        // No left replica here to read the outcome from (it moved away, or is not here yet):
        // hand R's leadership to another replica, whose store may hold one.
        if (r.isLeader) this.handOff(r);
        continue;
      }
      const outcome = mergeOutcome(l, f.mergeId)?.state;
      if ((outcome === undefined || outcome === 'pending') && l.isLeader) {
        this.stats.aborts++;
        log.warn('merge frozen too long without a coordinator: aborting it on the left range', { rangeId, mergeId: f.mergeId, leftRangeId: f.leftRangeId });
        const data = encodeAdminCommand({ type: AdminCommandType.AbortMerge, mergeId: f.mergeId, leftConfVer: f.leftConfVer, leftVersion: f.leftVersion });
        scheduler.propose(l.rangeId, data, () => {}, { broadcastCommit: true });
      } else if (outcome === 'aborted' && r.isLeader) {
        this.unfreeze(r, f.mergeId, f.leftRangeId);
      }
    }
  }

  /** Proposes R's Unfreeze: merge `mergeId` was rolled back (as recorded on `outcomeOn`). */
  private unfreeze(r: Replica<KvResult>, mergeId: number, outcomeOn: number): void {
    this.stats.unfreezes++;
    this.o.log.warn('merge rolled back on the left range: unfreezing the right range', { rangeId: r.rangeId, mergeId, outcomeOn });
    this.o.scheduler.propose(r.rangeId, encodeAdminCommand({ type: AdminCommandType.Unfreeze, mergeId }), () => {}, { broadcastCommit: true });
  }

  /** A replica here whose recorded outcomes hold merge `mergeId` as aborted, if any. */
  private abortRecordedOn(mergeId: number): Replica<KvResult> | undefined {
    for (const x of this.o.scheduler.all()) {
      if (!x.destroyed && x.log.descriptor !== null && mergeOutcome(x, mergeId)?.state === 'aborted') return x;
    }
    return undefined;
  }

  /** Moves `r`'s leadership to the next voter after this one (by replica id). */
  private handOff(r: Replica<KvResult>): void {
    const voters = r.node.status().config.voters.filter((id) => id !== r.node.id).sort((a, b) => a - b);
    if (voters.length === 0) return;
    const to = voters.find((id) => id > r.node.id) ?? voters[0]!;
    this.stats.handOffs++;
    this.o.log.warn('range frozen by a merge whose left range has no replica here: handing its leadership on', { rangeId: r.rangeId, toReplica: to });
    this.o.scheduler.withNode(r.rangeId, (x) => x.node.transferLeader(to));
  }

  /** Runs one pass now (tests). */
  lookNow(): void {
    this.look();
  }
}
