// The host's timing, in one place, with the relations between the values checked (a
// configuration that breaks one would be unsafe or would not work). Stores and PD take
// their defaults from here; flags and tests override single values.
//
//   tickMs                  one raft tick. Everything raft measures is in ticks.
//   electionTimeoutTicks    a follower that hears no leader for this long campaigns (raft
//                           randomizes it within [ET, 2 ET)); also the lease window.
//   heartbeatIntervalTicks  a leader heartbeats this often. Must be well below the election
//                           timeout, or followers campaign between two heartbeats.
//   leaseMarginTicks        a leader serves lease reads until ET - margin ticks after a
//                           quorum acknowledged it: the margin covers clock-rate drift and
//                           the tick a follower's grid may run ahead (tick-clock.ts).
//   livenessIntervalMs      store liveness ping interval (store-liveness.ts).
//   livenessTimeoutMs       a peer store silent this long (and as many polls) is down. At
//                           least two intervals, so one lost ping never declares it down.
export interface HostTiming {
  tickMs: number;
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  leaseMarginTicks: number;
  livenessIntervalMs: number;
  livenessTimeoutMs: number;
}

export const DEFAULT_TIMING: Readonly<HostTiming> = Object.freeze({
  tickMs: 50,
  electionTimeoutTicks: 10,
  heartbeatIntervalTicks: 2,
  leaseMarginTicks: 2,
  livenessIntervalMs: 250,
  livenessTimeoutMs: 2_000,
});

/** Defaults overridden by `partial`; throws RangeError naming the relation a value breaks. */
export function resolveTiming(partial: Partial<HostTiming> = {}): HostTiming {
  const t: HostTiming = { ...DEFAULT_TIMING };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (t as unknown as Record<string, number>)[k] = v;
  for (const [k, v] of Object.entries(t)) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`timing ${k} must be a non-negative integer, got ${String(v)}`);
  }
  const fail = (why: string): never => {
    throw new RangeError(`timing: ${why}`);
  };
  if (t.tickMs < 1) fail(`tickMs must be at least 1, got ${t.tickMs}`);
  if (t.heartbeatIntervalTicks < 1) fail('heartbeatIntervalTicks must be at least 1');
  if (t.electionTimeoutTicks <= t.heartbeatIntervalTicks) {
    fail(`electionTimeoutTicks (${t.electionTimeoutTicks}) must be above heartbeatIntervalTicks (${t.heartbeatIntervalTicks})`);
  }
  if (t.leaseMarginTicks >= t.electionTimeoutTicks) {
    fail(`leaseMarginTicks (${t.leaseMarginTicks}) must be below electionTimeoutTicks (${t.electionTimeoutTicks}): no lease would ever be valid`);
  }
  if (t.livenessIntervalMs < 1) fail('livenessIntervalMs must be at least 1');
  if (t.livenessTimeoutMs < 2 * t.livenessIntervalMs) {
    fail(`livenessTimeoutMs (${t.livenessTimeoutMs}) must be at least twice livenessIntervalMs (${t.livenessIntervalMs})`);
  }
  return t;
}

/** Ticks a woken leader waits before it trusts its lease again (quiescence and leases, multiraft README). */
export function leaseWakeTicks(t: HostTiming): number {
  return t.electionTimeoutTicks + t.leaseMarginTicks;
}
