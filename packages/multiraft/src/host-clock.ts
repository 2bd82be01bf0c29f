// Time and turns for the host, injected so the same code runs in production and in the
// whole-store simulation (packages/testkit): a monotonic clock, one-shot timers, and "run
// this on a later turn of the event loop". Production uses performance.now, setTimeout and
// setImmediate; the simulation uses its event queue, so one seed is one fixed order.
export type TimerHandle = { readonly timer: unknown };

export interface HostClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(h: TimerHandle): void;
  /** Runs `fn` on a later turn (after the current one and its microtasks). */
  nextTurn(fn: () => void): void;
}

export const realClock: HostClock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => ({ timer: setTimeout(fn, ms) }),
  clearTimer: (h) => clearTimeout(h.timer as NodeJS.Timeout),
  nextTurn: (fn) => {
    setImmediate(fn);
  },
};

/** Runs `fn` every `ms` until the returned stop function is called. */
export function every(clock: HostClock, ms: number, fn: () => void): () => void {
  let h: TimerHandle | null = null;
  let stopped = false;
  const arm = (): void => {
    h = clock.setTimer(ms, () => {
      if (stopped) return;
      fn();
      if (!stopped) arm();
    });
  };
  arm();
  return () => {
    stopped = true;
    if (h !== null) clock.clearTimer(h);
  };
}
