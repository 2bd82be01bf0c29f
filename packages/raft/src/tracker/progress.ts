// What the leader knows about one follower's log, and how it paces appends to it.
//
// A follower is in one of three states:
//   Probe     — the leader does not know where the follower's log ends. It sends one
//               append at a time and waits for the answer (accept or reject with a hint)
//               before sending the next, walking `next` back until the logs match.
//   Replicate — the logs match up to `match`. The leader streams appends optimistically,
//               advancing `next` as it sends, bounded by the in-flight window.
//   Snapshot  — the follower needs entries the leader has compacted away. Nothing is
//               sent until the snapshot at `pendingSnapshot` is reported applied or failed.
//
// Invariant: match < next (the leader never re-sends what the follower acked as matching).
import { ProgressState } from '../types.js';
import { invariant } from '../util.js';
import { Inflights } from './inflights.js';

const STATE_NAMES = ['probe', 'replicate', 'snapshot'] as const;

export class Progress {
  /** Highest index known to match the leader's log. */
  match = 0;
  /** Index of the next entry to send. */
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Snapshot state: the index of the snapshot in flight. 0 otherwise. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round (reset by the leader each round). */
  recentActive = false;
  /** Probe state: an append is outstanding, wait for its answer (or a heartbeat response).
   *  Replicate state: mirrors inflights.full() after the last send. */
  msgAppFlowPaused = false;
  /** Entries were sent to it since the leader's last heartbeat round (skipHeartbeatsAfterAppends). */
  entriesSinceHeartbeat = false;
  isLearner: boolean;
  inflights: Inflights;

  constructor(next: number, maxInflightMsgs: number, maxInflightBytes: number, isLearner: boolean) {
    invariant(next >= 1, () => `progress next ${next} must be ≥ 1`);
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflightMsgs, maxInflightBytes);
  }

  /**
   * Back to probing. After a snapshot the follower holds at least the snapshot's index,
   * so probing resumes just past it rather than from match+1: e.g. match 3, snapshot at
   * 100 → next 101, not 4.
   */
  becomeProbe(): void {
    const next =
      this.state === ProgressState.Snapshot ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState(ProgressState.Probe);
    this.next = next;
  }

  /** The logs match up to `match`: stream everything after it. */
  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  /** The follower needs the snapshot at `snapshotIndex`; stop appending until it is done. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /**
   * Accounts for an append just sent with `count` entries totalling `bytes`.
   * Replicate: optimistically advance `next` past them and record them in flight.
   * Probe: one append at a time, so pause until it is answered. An empty append (a bare
   * commit update) does not pause: it asks nothing of the follower's log.
   */
  sentEntries(count: number, bytes: number): void {
    switch (this.state) {
      case ProgressState.Replicate:
        if (count > 0) {
          this.next += count;
          this.inflights.add(this.next - 1, bytes);
        }
        this.msgAppFlowPaused = this.inflights.full();
        return;
      case ProgressState.Probe:
        if (count > 0) this.msgAppFlowPaused = true;
        return;
      default:
        invariant(false, () => `sentEntries in state ${this.toString()}: nothing is sent while a snapshot is pending`);
    }
  }

  /**
   * The follower acked its log up to `n`. Returns false for a stale ack (nothing new
   * matched). Never moves `next` backwards: appends past `n` may still be in flight.
   */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      this.msgAppFlowPaused = false;
      updated = true;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /**
   * The follower rejected an append whose previous index was `rejected`, and hints that
   * its log may match up to `matchHint`. Returns false when the rejection is stale.
   *
   * Replicate: appends are pipelined, so a rejection of anything above `match` means the
   * stream broke; restart from match+1 (the caller then switches to Probe). A rejection
   * at or below `match` is about an old append and is ignored.
   *
   * Probe/Snapshot: only the outstanding probe (at next-1) is answered; any other
   * rejection is a reordered duplicate. Jump back to the hint, but never to or below
   * `match`, and never forward past the rejected index.
   *   e.g. match 2, next 9, rejected 8, hint 5 → next 6 (probe at 5 next)
   *        match 2, next 9, rejected 8, hint 0 → next 3 (never at or below match)
   *        match 2, next 9, rejected 8, hint 20 → next 8 (the hint cannot move us forward)
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** True when the leader must not send appends to this follower now. */
  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.msgAppFlowPaused;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }

  /** An independent copy (configuration changes must not mutate the old Progress). */
  clone(): Progress {
    const c = new Progress(this.next, this.inflights.maxCount, this.inflights.maxBytes, this.isLearner);
    c.match = this.match;
    c.state = this.state;
    c.pendingSnapshot = this.pendingSnapshot;
    c.recentActive = this.recentActive;
    c.msgAppFlowPaused = this.msgAppFlowPaused;
    c.inflights = this.inflights.clone();
    return c;
  }

  toString(): string {
    let s = `${STATE_NAMES[this.state]} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.pendingSnapshot > 0) s += ` pendingSnapshot=${this.pendingSnapshot}`;
    if (!this.recentActive) s += ' inactive';
    if (this.inflights.count() > 0) s += ` inflight=${this.inflights.count()}`;
    return s;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }
}
