// Time and turns as the storage engine's in-memory parts take them: the same shape as
// multiraft's HostClock (which depends on this package, so the type is declared here), so
// a simulation hands both the same object. Production never uses it: the RocksDB engine
// runs its background work on setImmediate and its fsyncs on the log-writer thread.

/** Runs `fn` on a later turn (after the current one and its microtasks). */
export type NextTurn = (fn: () => void) => void;

export interface StorageClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs `fn` once, `ms` from now. */
  setTimer(ms: number, fn: () => void): unknown;
  nextTurn: NextTurn;
}

/** The production turn: the event loop's next check phase. */
export const setImmediateTurn: NextTurn = (fn) => {
  setImmediate(fn);
};
