// The simulated world the stores live in: one event queue in simulated milliseconds, a
// HostClock per store, and the rules for a paused or crashed store's pending work.
//
// Every timer, turn and delivery is an event owned by a store (or by the world: owner 0,
// clients and faults). A crash bumps the owner's generation: its pending events are
// dropped when they come up. A pause holds the owner's events until it resumes (a
// SIGSTOPped process: nothing runs, nothing is lost). After each event the world lets the
// promise jobs it started settle before the next event, so one seed is one execution.
import type { HostClock, TimerHandle } from '@rangekv/multiraft';
import { EventQueue } from '../sim/event-queue.js';

interface SimEvent {
  owner: number;
  gen: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Lets every promise job queued so far (and the ones they queue) run. Node runs the
 * process.nextTick queue only once the promise-job queue has drained, and the tick is
 * queued from inside a promise job, so it resolves after all of them: the same order as
 * waiting for setImmediate, without an event-loop turn per event (a third faster a seed,
 * measured; the code under test queues no ticks of its own, its turns are the world's).
 */
function settle(): Promise<void> {
  return Promise.resolve().then(() => new Promise<void>((resolve) => process.nextTick(resolve)));
}

export class SimWorld {
  private readonly queue = new EventQueue<SimEvent>();
  private readonly generation = new Map<number, number>();
  private readonly paused = new Map<number, SimEvent[]>();
  /** Simulated milliseconds since the start. */
  now = 0;
  /** Events run so far. */
  steps = 0;
  /** The error of an event callback, kept until the run loop reports it. */
  private failure: unknown = null;
  /** Events run at the current instant: a bound on work that never lets time advance. */
  private stepsAtNow = 0;
  private stepsAtNowTime = -1;
  /** More events than this at one simulated instant is a livelock (something re-schedules itself at once, forever). */
  static readonly MAX_EVENTS_PER_INSTANT = 200_000;

  gen(owner: number): number {
    return this.generation.get(owner) ?? 0;
  }

  /** Runs `fn` at `now + delayMs` on behalf of `owner` (dropped if the owner crashes first). */
  at(owner: number, delayMs: number, fn: () => void): TimerHandle {
    if (!(delayMs >= 0)) throw new RangeError(`sim: negative delay ${delayMs}`);
    const ev: SimEvent = { owner, gen: this.gen(owner), fn, cancelled: false };
    this.queue.push(this.now + delayMs, ev);
    return { timer: ev };
  }

  /** A promise that resolves `delayMs` from now, for `owner` (never, if the owner crashes). */
  sleep(owner: number, delayMs: number): Promise<void> {
    return new Promise((resolve) => this.at(owner, delayMs, resolve));
  }

  clockFor(owner: number): HostClock {
    return {
      now: () => this.now,
      setTimer: (ms, fn) => this.at(owner, Math.max(0, ms), fn),
      clearTimer: (h) => {
        (h.timer as SimEvent).cancelled = true;
      },
      nextTurn: (fn) => {
        this.at(owner, 0, fn);
      },
    };
  }

  /** The owner's pending and future events before now are forgotten (a crash). */
  crash(owner: number): void {
    this.generation.set(owner, this.gen(owner) + 1);
    this.paused.delete(owner);
  }

  pause(owner: number): void {
    if (!this.paused.has(owner)) this.paused.set(owner, []);
  }

  isPaused(owner: number): boolean {
    return this.paused.has(owner);
  }

  /** Runs what the owner missed while paused, now, in order. */
  resume(owner: number): void {
    const held = this.paused.get(owner);
    if (!held) return;
    this.paused.delete(owner);
    for (const ev of held) this.queue.push(this.now, ev);
  }

  /**
   * Runs events (advancing time as they come due) until `p` settles; its value. For setup
   * steps that wait on simulated time (opening an engine: its writes complete on the clock).
   */
  async drive<T>(p: Promise<T>, afterEach?: () => void): Promise<T> {
    let done = false;
    const out = p.finally(() => {
      done = true;
    });
    await settle();
    while (!done) {
      const t = this.queue.peekTime();
      if (t === Infinity) throw new Error('sim: nothing left to run, and the awaited work never finished');
      await this.runUntil(t, afterEach);
    }
    return out;
  }

  /** Runs events until simulated time passes `untilMs` (or the queue empties). */
  async runUntil(untilMs: number, afterEach?: () => void): Promise<void> {
    while (this.queue.peekTime() <= untilMs) {
      const next = this.queue.pop()!;
      this.now = Math.max(this.now, next.time);
      const ev = next.item;
      if (ev.cancelled || ev.gen !== this.gen(ev.owner)) continue;
      const held = this.paused.get(ev.owner);
      if (held) {
        held.push(ev);
        continue;
      }
      this.steps++;
      if (this.now !== this.stepsAtNowTime) {
        this.stepsAtNowTime = this.now;
        this.stepsAtNow = 0;
      }
      if (++this.stepsAtNow > SimWorld.MAX_EVENTS_PER_INSTANT) {
        throw new Error(`sim: livelock: over ${SimWorld.MAX_EVENTS_PER_INSTANT} events at ${this.now} ms without time advancing (store ${ev.owner}: ${ev.fn.toString().slice(0, 200)})`);
      }
      try {
        ev.fn();
      } catch (e) {
        this.failure ??= e;
      }
      await settle();
      if (this.failure !== null) {
        const f = this.failure;
        this.failure = null;
        throw f;
      }
      afterEach?.();
    }
    this.now = Math.max(this.now, untilMs);
  }
}
