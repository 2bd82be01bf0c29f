// One range on this store: its raft node and log store, and the driver's per-range state
// (queued in the scheduler, apply in progress, proposals waiting for their entry).
import { StateRole, type Entry, type NodeId, type RawNode } from '@rangekv/raft';
import type { RangeLogStore } from '@rangekv/storage';

/** What the proposer learns about its entry. */
export type ProposalOutcome<R> =
  | { kind: 'applied'; result: R }
  /** Another entry took its slot (leader changed): it will never apply. */
  | { kind: 'dropped'; reason: string }
  /**
   * Nobody will learn the entry's fate here (range removed from this store, store
   * stopping, leadership lost before it committed): it may or may not apply. The client
   * must treat the write as ambiguous.
   */
  | { kind: 'unknown'; reason: string };

interface PendingProposal<R> {
  term: number;
  done: (o: ProposalOutcome<R>) => void;
  /** Stage times (performance.now(), ms; 0 = not reached), see WriteStages. */
  stages: WriteStages;
}

/**
 * When a proposal reached each stage on the leader (performance.now(), ms; 0 = not seen,
 * e.g. the entry was appended by an earlier Ready of a leader that then lost and regained
 * leadership). appended: raft handed the entry out in a Ready (sent to the followers,
 * queued for the local disk); persisted: the local write holding it is durable;
 * committed: a Ready handed it out as committed (a quorum holds it); applied: the state
 * machine applied it.
 */
export interface WriteStages {
  proposed: number;
  appended: number;
  persisted: number;
  committed: number;
  applied: number;
}

export type WriteStage = 'appended' | 'persisted' | 'committed';

/** Work for the apply side, strictly in order per range. */
export type ApplyWork =
  | { kind: 'entries'; entries: Entry[] }
  /** A snapshot was ingested (data and applied state are on disk): mark it applied. */
  | { kind: 'snapshot'; index: number };

export class Replica<R = unknown> {
  /** In the scheduler's ready queue. */
  queued = false;
  /** A Ready with a snapshot is being ingested: no more Readies until it is acknowledged. */
  blocked = false;
  /** Readies handed to the log writer and not yet acknowledged (the scheduler's count). */
  readiesInFlight = 0;
  /** An apply task is running. */
  applying = false;
  readonly applyQueue: ApplyWork[] = [];
  private readonly pending = new Map<number, PendingProposal<R>>();
  private readonly applyIdleWaiters: (() => void)[] = [];
  destroyed = false;
  /** Raft's leader as last reported in a Ready's soft state (replica id, 0 = unknown). */
  lead: NodeId = 0;
  role: StateRole = StateRole.Follower;
  /**
   * Quiescence (quiescence.ts): the group is out of the scheduler's ticking set. Set and
   * cleared only by the scheduler.
   */
  quiescent = false;
  /** Scheduler tick count at the last proposal, admin call or wake (idleness). */
  lastActiveTick = 0;
  /** Scheduler tick count when the group last (re)joined the ticking set. */
  wokeAtTick = 0;
  /** Scheduler tick count when the group last quiesced. */
  quiescedAtTick = 0;
  /** Leader: the lease stamp (raft's `index`) of its quiesce heartbeats; answers to older heartbeats are late. */
  quiesceStamp = 0;

  constructor(
    readonly rangeId: number,
    readonly node: RawNode,
    readonly log: RangeLogStore,
  ) {}

  get pendingProposals(): number {
    return this.pending.size;
  }

  /** Remembers who waits for the entry proposed at (index, term). */
  track(index: number, term: number, done: (o: ProposalOutcome<R>) => void): void {
    const old = this.pending.get(index);
    if (old) old.done({ kind: 'dropped', reason: `slot ${index} reused by a newer proposal` });
    const now = performance.now();
    this.pending.set(index, { term, done, stages: { proposed: now, appended: 0, persisted: 0, committed: 0, applied: 0 } });
  }

  /** Stamps `stage` on the waiting proposals among `entries` (a no-op when none wait). */
  stamp(entries: readonly Entry[], stage: WriteStage): void {
    if (this.pending.size === 0 || entries.length === 0) return;
    const now = performance.now();
    for (const e of entries) {
      const p = this.pending.get(e.index);
      if (p !== undefined && p.term === e.term && p.stages[stage] === 0) p.stages[stage] = now;
    }
  }

  /**
   * Called as each entry applies: answers its proposer, or tells it the slot went to
   * another entry. Returns the proposal's stage times when it applied as proposed.
   */
  settle(index: number, term: number, result: R): WriteStages | null {
    const p = this.pending.get(index);
    if (!p) return null;
    this.pending.delete(index);
    if (p.term === term) {
      p.stages.applied = performance.now();
      p.done({ kind: 'applied', result });
      return p.stages;
    }
    p.done({ kind: 'dropped', reason: `entry ${index} committed at term ${term}, proposed at term ${p.term}` });
    return null;
  }

  get isLeader(): boolean {
    return this.role === StateRole.Leader;
  }

  /**
   * Leadership lost: gives up on the waiting proposals above `commit` (`unknown`: a new
   * leader may still commit them, or not). Their proposers learn now instead of waiting
   * out their timeout, so a client leaves a partitioned ex-leader at once. Those at or
   * below `commit` are committed and will apply here with their result.
   */
  failUncommitted(commit: number, reason: string): void {
    for (const [index, p] of this.pending) {
      if (index <= commit) continue;
      this.pending.delete(index);
      p.done({ kind: 'unknown', reason });
    }
  }

  /**
   * Gives up on every waiting proposal (range destroyed, store stopping). Their entries
   * may still commit elsewhere, so the outcome is `unknown`, never `dropped`.
   */
  failAll(reason: string): void {
    for (const p of this.pending.values()) p.done({ kind: 'unknown', reason });
    this.pending.clear();
  }

  whenApplyIdle(): Promise<void> {
    if (!this.applying && this.applyQueue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.applyIdleWaiters.push(resolve));
  }

  notifyApplyIdle(): void {
    if (this.applying || this.applyQueue.length > 0) return;
    const ws = this.applyIdleWaiters.splice(0);
    for (const w of ws) w();
  }
}
