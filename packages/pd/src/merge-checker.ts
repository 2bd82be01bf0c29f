// The merge checker's planner: which adjacent ranges are small and quiet enough to become
// one. Pure and deterministic; pd-service.ts runs it in a SchedulerLoop and turns each
// pair into a MERGE operator on the left range (createdBy merge-checker), which moves the
// right range's replicas and leadership to the left one's stores first when they differ.
//
// A pair is merged when both ranges:
//   - have a known size (their leader measured the current span, or PD summed the
//     measured ranges a merge joined) below mergeMaxSizeBytes and below mergeMaxKeys
//     (TiKV's max-merge-region-size / max-merge-region-keys);
//   - are not hot: writes + reads per second (balance-hot.ts's load) below
//     minHotWritesPerSecond;
//   - were not split within splitMergeIntervalMs (TiKV's split-merge-interval: a range
//     just split, by size or by hand, is not merged back at once);
//   - are idle: no operator, joint configuration or learner; with as many voters each;
// and together stay below rangeSplitBytes and rangeSplitKeys (else the split checker would
// cut the result again). Pairs are taken walking the keyspace, a range in one pair at
// most, and the smallest pairs (bytes together) go first, up to mergeScheduleLimit
// RUNNING merge operators of the checker.
//
//   planMerges({ ranges, running: 0 }, limits) -> [{ rangeId: 7, rightRangeId: 9 }]
import { compareBytes } from './types.js';

export interface MergeCandidate {
  rangeId: number;
  startKey: Uint8Array;
  /** Empty: the end of the keyspace. */
  endKey: Uint8Array;
  /** null when PD does not know the range's size. */
  approximateBytes: number | null;
  approximateKeys: number | null;
  /** Writes and reads per second its leader measured. */
  loadPerSecond: number;
  /** Since PD last saw it split (or since this PD leader began serving, when it has not). */
  sinceSplitMs: number;
  voters: number;
  /** An operator runs on it, or it has a learner or a joint configuration. */
  busy: boolean;
}

export interface MergeView {
  /** Any order. */
  ranges: readonly MergeCandidate[];
  /** The merge checker's operators still RUNNING. */
  running: number;
}

export interface MergeLimits {
  mergeMaxSizeBytes: number;
  mergeMaxKeys: number;
  splitMergeIntervalMs: number;
  /** A range this loaded (writes + reads per second) is hot. */
  minHotWritesPerSecond: number;
  rangeSplitBytes: number;
  rangeSplitKeys: number;
  /** mergeScheduleLimit. */
  maxOperators: number;
}

export interface PlannedMerge {
  /** The left range: the MERGE operator's range. */
  rangeId: number;
  rightRangeId: number;
}

function small(r: MergeCandidate, l: MergeLimits): boolean {
  return !r.busy && r.approximateBytes !== null && r.approximateKeys !== null
    && r.approximateBytes < l.mergeMaxSizeBytes && r.approximateKeys < l.mergeMaxKeys
    && r.loadPerSecond < l.minHotWritesPerSecond && r.sinceSplitMs >= l.splitMergeIntervalMs;
}

export function planMerges(view: MergeView, limits: MergeLimits): PlannedMerge[] {
  const budget = limits.maxOperators - view.running;
  if (budget <= 0) return [];
  const sorted = [...view.ranges].sort((a, b) => compareBytes(a.startKey, b.startKey) || a.rangeId - b.rangeId);
  const pairs: Array<{ left: MergeCandidate; right: MergeCandidate; bytes: number }> = [];
  for (let i = 0; i + 1 < sorted.length; i++) {
    const left = sorted[i]!;
    const right = sorted[i + 1]!;
    if (left.endKey.length === 0 || compareBytes(left.endKey, right.startKey) !== 0) continue;
    if (!small(left, limits) || !small(right, limits) || left.voters !== right.voters) continue;
    const bytes = left.approximateBytes! + right.approximateBytes!;
    if (bytes >= limits.rangeSplitBytes || left.approximateKeys! + right.approximateKeys! >= limits.rangeSplitKeys) continue;
    pairs.push({ left, right, bytes });
    i++; // the right range is taken
  }
  return pairs
    .sort((a, b) => a.bytes - b.bytes || compareBytes(a.left.startKey, b.left.startKey))
    .slice(0, budget)
    .map((p) => ({ rangeId: p.left.rangeId, rightRangeId: p.right.rangeId }));
}
