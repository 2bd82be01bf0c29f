// The store's raft clock: one tick every `tickMs`, on a grid aligned to the monotonic
// clock, and a record of the ticks it could not issue on time (event-loop stalls).
//
// Raft measures time in ticks only, and its lease reads trust that ticks track real
// time: a leader serves from its lease until electionTimeout − leaseMarginTicks ticks
// after a quorum acknowledged it, because each of those followers refuses to vote for an
// election timeout of ITS ticks after hearing it. A follower's ticks never run faster than
// real time (at most one per grid slot), so followers are safe. A leader whose event loop
// stalls, though, counts fewer ticks than really passed and would keep serving from a
// lease that has run out in real time.
//
// Catching up (issuing the missed ticks in a burst) would fix that, but it also makes
// every stall look like lost heartbeats to every group at once (elections, check-quorum
// step-downs) right before the waiting messages are read. So the clock issues at most one
// tick per slot and counts the slots it skipped instead. `leaseUsable()` is true only
// while fewer than `marginTicks` slots were lost over the last `windowTicks` ticks (an
// election timeout: the oldest lease stamp raft may still trust), counting a slot that is
// overdue right now; otherwise the KV service serves LEASE reads through a quorum
// ReadIndex, which needs no clock.
//
// Why `< marginTicks` is enough: raft trusts a stamp S while ticks < S + ET − margin.
// Real slots since S are (ticks − S) + lost + (under one slot of the current one), and a
// follower refuses votes for at least ET − 1 real slots after hearing S (its own tick
// grid may be up to one slot ahead). (ET − margin − 1) + lost + 1 < ET − 1 holds when
// lost < margin.
//
// Worked example (tickMs 10, windowTicks 10, marginTicks 2): ticks 1..30 on time; the
// loop stalls after tick 30 (300 ms) until 345 ms (slot 34): slots 31..33 are lost, tick 31
// is issued. While ticks 31..39 are the newest, the window reaches back before the stall
// (3 lost): no lease. At tick 40 the window is ticks 31..40, all after the loss: leases
// again (and raft only trusts stamps newer than tick 32 by then).
import { realClock, type HostClock, type TimerHandle } from './host-clock.js';

export interface TickClockOptions {
  tickMs: number;
  /** Ticks a lease can span (raft's electionTimeoutTicks). */
  windowTicks: number;
  /** Raft's leaseMarginTicks: lost slots tolerated inside one window, exclusive. */
  marginTicks: number;
  /** Time and timers; default realClock (tests and the simulation inject their own). */
  clock?: HostClock;
  /** Monotonic milliseconds (tests inject a fake); default clock.now. */
  now?: () => number;
}

export class TickClock {
  private readonly tickMs: number;
  private readonly windowTicks: number;
  private readonly marginTicks: number;
  private readonly now: () => number;
  private t0 = 0;
  private issued = 0;
  /** Lost slots so far when tick i was issued, for the last windowTicks ticks (ring). */
  private readonly lostAt: Float64Array;
  private timer: TimerHandle | null = null;
  private readonly clock: HostClock;
  private onTick: (() => void) | null = null;
  /** Slots skipped because the loop was late (never issued). */
  lostTicks = 0;

  constructor(o: TickClockOptions) {
    if (!(o.tickMs > 0) || !(o.windowTicks >= 1) || !(o.marginTicks >= 0)) throw new RangeError('TickClock: bad options');
    this.tickMs = o.tickMs;
    this.windowTicks = o.windowTicks;
    this.marginTicks = o.marginTicks;
    this.clock = o.clock ?? realClock;
    const clock = this.clock;
    this.now = o.now ?? (() => clock.now());
    this.lostAt = new Float64Array(o.windowTicks);
    this.t0 = this.now();
  }

  get ticks(): number {
    return this.issued;
  }

  private slot(): number {
    return Math.floor((this.now() - this.t0) / this.tickMs);
  }

  /** Starts the timer; `onTick` runs once per issued tick. */
  start(onTick: () => void): void {
    this.onTick = onTick;
    this.t0 = this.now();
    this.schedule();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.onTick = null;
  }

  /** Issues the tick of the current slot if it is due; returns whether it did. */
  poll(): boolean {
    const slot = this.slot();
    const due = slot - (this.issued + this.lostTicks);
    if (due < 1) return false;
    this.lostTicks += due - 1;
    this.issued++;
    this.lostAt[this.issued % this.windowTicks] = this.lostTicks;
    this.onTick?.();
    return true;
  }

  /**
   * True when the ticks issued over the last window track real time closely enough for a
   * tick-counted lease: fewer than marginTicks slots lost since the window's first tick,
   * counting a slot that is overdue right now.
   */
  leaseUsable(): boolean {
    const lostNow = this.slot() - this.issued;
    const oldest = this.issued >= this.windowTicks ? this.lostAt[(this.issued + 1) % this.windowTicks]! : 0;
    return lostNow - oldest < this.marginTicks;
  }

  private schedule(): void {
    if (this.onTick === null) return;
    const next = this.t0 + (this.slot() + 1) * this.tickMs;
    this.timer = this.clock.setTimer(Math.max(0, next - this.now()), () => {
      this.poll();
      this.schedule();
    });
  }
}
