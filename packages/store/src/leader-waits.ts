// Writes with no leader to go to, and leader reads (LINEARIZABLE, LEASE) that lose theirs to
// an election, wait here for one instead of being answered at once:
// - a write on a leader transferring its leadership (raft refuses proposals meanwhile),
//   where the answer was ServerBusy and a client backed off for longer than a transfer
//   takes (a few ms: TimeoutNow, one vote round, the new leader's first append);
// - a write or leader read on a follower that knows no leader and voted this term for
//   another replica (an election it voted in is deciding; the old leader of a transfer
//   between the new leader's vote request and its first append), and a leader read whose
//   leader stepped down that way before a quorum confirmed it, where the answer was
//   NotLeader without a hint and a client polled for the election's end (25-50 ms a
//   poll). A replica cut off from the others (it voted for itself, or campaigns) still
//   answers at once.
// A waiter is released when a replica of its range on this store learns of a leader (itself,
// or another, whose message told it), after `maxWaitMs`, or when the store stops or the
// replica fails; the request then checks leadership again and is served here, or answered
// NotLeader with the leader as its hint, which clients follow at once (README "Request
// handling").
import type { HostClock, TimerHandle } from '@rangekv/multiraft';

export class LeaderWaits {
  private readonly waits = new Map<number, Set<() => void>>();

  constructor(private readonly clock: HostClock, private readonly maxWaitMs: number, private readonly maxPerRange: number) {}

  /** Requests waiting now, over every range. */
  get size(): number {
    let n = 0;
    for (const s of this.waits.values()) n += s.size;
    return n;
  }

  /**
   * Waits until a leader of `rangeId` is known again, `maxWaitMs` passed or the store
   * stops. Null when `maxPerRange` requests of the range wait already (a transfer's write
   * answers ServerBusy; a request that found no leader goes on at once).
   */
  wait(rangeId: number): Promise<void> | null {
    let set = this.waits.get(rangeId);
    if (set !== undefined && set.size >= this.maxPerRange) return null;
    if (set === undefined) {
      set = new Set();
      this.waits.set(rangeId, set);
    }
    const waiters = set;
    return new Promise<void>((resolve) => {
      let timer: TimerHandle | null = null;
      const release = (): void => {
        if (!waiters.delete(release)) return;
        if (timer !== null) this.clock.clearTimer(timer);
        if (waiters.size === 0 && this.waits.get(rangeId) === waiters) this.waits.delete(rangeId);
        resolve();
      };
      waiters.add(release);
      timer = this.clock.setTimer(this.maxWaitMs, release);
    });
  }

  /** A replica of `rangeId` here learned of leader `lead` (0: none known, which releases nobody). */
  leaderKnown(rangeId: number, lead: number): void {
    if (lead !== 0) this.release(rangeId);
  }

  /** Releases the waiters of `rangeId` (its replica failed or is gone). */
  release(rangeId: number): void {
    const set = this.waits.get(rangeId);
    if (set === undefined) return;
    for (const release of [...set]) release();
  }

  /** Releases every waiter (the store is stopping). */
  releaseAll(): void {
    for (const rangeId of [...this.waits.keys()]) this.release(rangeId);
  }
}
