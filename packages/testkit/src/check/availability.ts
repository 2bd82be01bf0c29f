// Availability as clients see it: after a fault (or its heal) at time t, how long until
// clients complete a write on every range again (the process nemesis in @rangekv/e2e, on
// real time; the store simulation's availability runs, on simulated time). Measured from
// the probes: one writer per
// range, one put in flight (a client that retries a put left unanswered for rpcTimeoutMs
// on another replica), the next sent as soon as the last returns. For each range,
// recovery is the return of its first successful probe put sent at or after t (a put
// stuck across t delays the next one, so the stall is counted); the event's recovery is
// the slowest range's. A range that never completes such a put before the run ends has
// no recovery (null: reported as "not recovered").
//
//   recoveryMs(probes, 4, 12_000)   // -> 870: every range wrote again 870 ms after t

export interface ProbeOp {
  /** Which range (probe group) it wrote to. */
  range: number;
  invokeMs: number;
  /** null: failed or never returned. */
  okMs: number | null;
}

/** Per probe group: ms from `atMs` until it completed a put sent at or after it; null if it never did. */
export function recoveryByRange(probes: readonly ProbeOp[], ranges: number, atMs: number): Array<number | null> {
  const first = new Array<number>(ranges).fill(Number.POSITIVE_INFINITY);
  for (const p of probes) {
    if (p.okMs === null || p.invokeMs < atMs) continue;
    if (p.okMs < first[p.range]!) first[p.range] = p.okMs;
  }
  return first.map((t) => (Number.isFinite(t) ? t - atMs : null));
}

/** Ms from `atMs` until every one of `ranges` probe groups completed a put sent at or after it; null if some never did. */
export function recoveryMs(probes: readonly ProbeOp[], ranges: number, atMs: number): number | null {
  const each = recoveryByRange(probes, ranges, atMs);
  return each.some((v) => v === null) ? null : Math.max(...(each as number[]));
}

/** The q-quantile (0..1) of the values, nearest rank; null for none. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export interface AvailabilityRow {
  /** Fault kind, or `<kind>:heal` for the recovery after the fault was healed. */
  what: string;
  count: number;
  /** Recoveries that never happened before the run ended. */
  notRecovered: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

/** One row per `what`, in first-seen order. */
export function availabilityTable(events: ReadonlyArray<{ what: string; recoveryMs: number | null }>): AvailabilityRow[] {
  const by = new Map<string, Array<number | null>>();
  for (const e of events) {
    const list = by.get(e.what) ?? [];
    list.push(e.recoveryMs);
    by.set(e.what, list);
  }
  return [...by].map(([what, list]) => {
    const got = list.filter((v): v is number => v !== null);
    return {
      what, count: list.length, notRecovered: list.length - got.length,
      p50Ms: quantile(got, 0.5), p99Ms: quantile(got, 0.99), maxMs: got.length > 0 ? Math.max(...got) : null,
    };
  });
}

/** The table as markdown lines, times in seconds (`unit` 'ms': milliseconds). */
export function formatAvailability(rows: readonly AvailabilityRow[], unit: 's' | 'ms' = 's'): string[] {
  const f = (ms: number | null): string => (ms === null ? '-' : unit === 's' ? (ms / 1000).toFixed(2) : String(Math.round(ms)));
  const out = [`availability (${unit === 's' ? 'seconds' : 'ms'} until clients complete writes on every range):`,
    '  | after | n | p50 | p99 | max | not recovered |', '  |---|---:|---:|---:|---:|---:|'];
  for (const a of rows) out.push(`  | ${a.what} | ${a.count} | ${f(a.p50Ms)} | ${f(a.p99Ms)} | ${f(a.maxMs)} | ${a.notRecovered} |`);
  return out;
}
