// A StorageClock for tests of the in-memory engine: simulated milliseconds and one event
// queue ordered by (time, order of scheduling), so a run is one fixed order of events.
//
// It drives itself: while events are queued it runs the earliest one per real event-loop
// turn (setImmediate), jumping simulated time to it, so the microtasks each event starts
// (promise continuations of the engine and of the test) all run before the next event -
// what nextTurn promises. Nothing else in an in-memory run schedules real turns, so the
// order is a function of the test alone.
//
//   const clock = new VirtualClock();
//   const engine = await StorageEngine.openOnDisk(new MemDisk(), { clock });
//   clock.setTimer(50, () => disk.crash());   // at simulated time 50
//   clock.watch(() => disk.unsyncedWrites > 0, () => disk.crash());   // between two events
import type { StorageClock } from '../storage-clock.js';

interface Event {
  at: number;
  order: number;
  fn: () => void;
}

export class VirtualClock implements StorageClock {
  private nowMs = 0;
  private order = 0;
  private readonly heap: Event[] = [];
  private driving = false;
  private watchers: { cond: () => boolean; act: () => void }[] = [];
  /** Events run so far. */
  eventsRun = 0;

  now(): number {
    return this.nowMs;
  }

  setTimer(ms: number, fn: () => void): { at: number } {
    if (!(ms >= 0)) throw new RangeError(`timer delay must be >= 0 ms, got ${ms}`);
    const at = this.nowMs + ms;
    this.push({ at, order: this.order++, fn });
    return { at };
  }

  nextTurn = (fn: () => void): void => {
    this.setTimer(0, fn);
  };

  /**
   * Runs `act` once, between two events (the earlier one's microtasks done), at the first
   * such point where `cond()` holds: a test's way to act at an exact state, not a time.
   */
  watch(cond: () => boolean, act: () => void): void {
    this.watchers.push({ cond, act });
  }

  get pending(): number {
    return this.heap.length;
  }

  private push(e: Event): void {
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
    if (!this.driving) {
      this.driving = true;
      setImmediate(() => this.step());
    }
  }

  private pop(): Event | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }

  private step(): void {
    for (const w of [...this.watchers]) {
      if (!w.cond()) continue;
      this.watchers.splice(this.watchers.indexOf(w), 1);
      w.act();
    }
    const e = this.pop();
    if (e === undefined) {
      this.driving = false;
      return;
    }
    this.nowMs = e.at;
    this.eventsRun++;
    try {
      e.fn();
    } finally {
      setImmediate(() => this.step());
    }
  }
}

function before(a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
