// The split checker's planner: which ranges have grown past the size or key-count
// threshold, and where to cut them. Pure and deterministic; pd-service.ts runs it in a
// SchedulerLoop and turns each split into a SPLIT operator (createdBy split-checker).
//
// The figures and the key come from the range's leader (the store's size check,
// size-check.ts in @rangekv/store): approximate bytes and keys, and the key with about half
// of the bytes before it. A range is split when either figure reaches its threshold
// (rangeSplitBytes, rangeSplitKeys: TiKV's region-split-size / region-split-keys), its
// report carries a key strictly inside its span, and no operator or joint change runs on it.
// The largest ranges (by bytes over the threshold) go first.
//
//   planSplits({ ranges, running: 0 }, { rangeSplitBytes: 96 << 20, rangeSplitKeys: 960_000, maxOperators: 4 })
//     -> [{ rangeId: 7, splitKey }]

export interface SplitCandidate {
  rangeId: number;
  approximateBytes: number;
  approximateKeys: number;
  /** Strictly inside the range's span, or empty (no key known). */
  splitKey: Uint8Array;
  busy: boolean;
}

export interface SplitView {
  ranges: readonly SplitCandidate[];
  /** The split checker's operators still RUNNING. */
  running: number;
}

export interface SplitLimits {
  rangeSplitBytes: number;
  rangeSplitKeys: number;
  maxOperators: number;
}

export interface PlannedSplit {
  rangeId: number;
  splitKey: Uint8Array;
}

/** How far past its thresholds a range is (1 = at one of them). */
function overBy(r: SplitCandidate, l: SplitLimits): number {
  return Math.max(r.approximateBytes / l.rangeSplitBytes, r.approximateKeys / l.rangeSplitKeys);
}

export function planSplits(view: SplitView, limits: SplitLimits): PlannedSplit[] {
  const budget = limits.maxOperators - view.running;
  if (budget <= 0) return [];
  return view.ranges
    .filter((r) => !r.busy && r.splitKey.length > 0 && overBy(r, limits) >= 1)
    .sort((a, b) => overBy(b, limits) - overBy(a, limits) || a.rangeId - b.rangeId)
    .slice(0, budget)
    .map((r) => ({ rangeId: r.rangeId, splitKey: r.splitKey }));
}
