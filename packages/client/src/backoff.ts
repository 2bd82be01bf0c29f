// Jittered exponential backoff under a per-call deadline and a retry budget.
//
// Retry n (n = 1, 2, ...) waits a uniformly random time in [cap/2, cap] where
// cap = min(backoffMaxMs, backoffBaseMs * 2^(n-1)) ("equal jitter": callers that failed
// together spread out, and the wait still grows). A wait never runs past the deadline:
// when the deadline would pass first, the call fails at once with DeadlineExceededError.
import { DeadlineExceededError, RetriesExhaustedError } from './errors.js';

export interface BackoffOptions {
  /** First retry's wait cap, in ms. */
  backoffBaseMs: number;
  /** Largest wait, in ms. */
  backoffMaxMs: number;
  /** Wait cap of an election poll (retry(.., { election: true })), in ms; absent: such retries back off as any other. */
  electionWaitMs?: number;
}

/**
 * Election polls a call may make before its retries back off again as usual: at most
 * electionWaitMs each (50 ms by default: ~2-3 s of polling, which covers an election after a
 * leader's store went silent, liveness timeout included).
 */
export const MAX_ELECTION_POLLS = 60;

/** The wait before retry `retry` (1-based), given a random number in [0, 1). */
export function backoffDelayMs(retry: number, o: BackoffOptions, random: number): number {
  const cap = Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** Math.min(30, Math.max(0, retry - 1)));
  return cap / 2 + (cap / 2) * random;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: () => Math.random(),
};

/**
 * One logical call's retry state: its deadline, how many retries it used, and the last
 * retryable failure (for the final error). Parts of a split call (one per range) each
 * get their own Budget sharing the deadline.
 */
export class Budget {
  retries = 0;
  /** Election polls so far (retry(.., { election: true }) within MAX_ELECTION_POLLS); not counted in `retries`. */
  electionPolls = 0;
  lastError = '';
  /** The store or PD address of the last failure, when it was "could not connect". */
  unreachable: string | undefined;

  constructor(
    readonly op: string,
    readonly deadline: number,
    readonly timeoutMs: number,
    readonly maxRetries: number,
    private readonly backoff: BackoffOptions,
    private readonly clock: Clock,
  ) {}

  /** A budget for a part of this call: same deadline, its own retry count. */
  fork(): Budget {
    return new Budget(this.op, this.deadline, this.timeoutMs, this.maxRetries, this.backoff, this.clock);
  }

  remainingMs(): number {
    return this.deadline - this.clock.now();
  }

  /** Throws DeadlineExceededError when the deadline has passed. */
  check(): void {
    if (this.remainingMs() <= 0) throw new DeadlineExceededError(this.op, this.timeoutMs, this.lastError, this.unreachable);
  }

  /**
   * Records a failure, then waits before the next try (`minWaitMs` from a ServerBusy hint;
   * `immediate` for a fresh route). `election`: no leader is known (a NotLeader without a
   * usable hint): the range is likely electing one, which takes an election timeout
   * (0.5-1 s at the stores' defaults). The call then polls every electionWaitMs or less, so
   * it finds the new leader soon after the election instead of up to backoffMaxMs later;
   * the first MAX_ELECTION_POLLS polls do not count against maxRetries.
   */
  async retry(reason: string, opts: { immediate?: boolean; minWaitMs?: number; unreachable?: string; election?: boolean } = {}): Promise<void> {
    this.lastError = reason;
    this.unreachable = opts.unreachable;
    const cap = this.backoff.electionWaitMs;
    if (opts.election === true && cap !== undefined && this.electionPolls < MAX_ELECTION_POLLS && opts.minWaitMs === undefined) {
      this.electionPolls++;
      const wait = Math.min(cap / 2 + (cap / 2) * this.clock.random(), backoffDelayMs(this.electionPolls, this.backoff, this.clock.random()));
      if (wait >= this.remainingMs()) throw new DeadlineExceededError(this.op, this.timeoutMs, reason, this.unreachable);
      if (wait > 0) await this.clock.sleep(wait);
      this.check();
      return;
    }
    this.retries++;
    if (this.retries > this.maxRetries) {
      throw new RetriesExhaustedError(this.op, this.retries, reason, this.unreachable);
    }
    const wait = opts.immediate ? 0 : Math.max(opts.minWaitMs ?? 0, backoffDelayMs(this.retries, this.backoff, this.clock.random()));
    if (wait >= this.remainingMs()) throw new DeadlineExceededError(this.op, this.timeoutMs, reason, this.unreachable);
    if (wait > 0) await this.clock.sleep(wait);
    this.check();
  }
}
