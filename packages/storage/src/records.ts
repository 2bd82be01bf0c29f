// Plain-data records the engine stores besides raft's own types: applied and truncated
// state. The range descriptor it stores is the one definition in @rangekv/proto
// (range-descriptor.ts), imported from '@rangekv/proto/range-descriptor'.
import type { ConfState, HardState } from '@rangekv/raft';

export type { ConfState, HardState };

/** The last entry folded into the range's state machine, with its term. */
export interface AppliedState {
  index: number;
  term: number;
}

/**
 * A range frozen by a merge into its left-hand neighbour (store README, "Merge"): it takes
 * no writes and serves no reads until the merge commits (the range is destroyed) or rolls
 * back (the row is deleted). Written at the Freeze entry's apply and carried by the
 * range's snapshots (snapshot-codec.ts), so a replica that catches up by snapshot stays
 * frozen.
 */
export interface MergeFreeze {
  mergeId: number;
  leftRangeId: number;
  /** The left range's epoch the merge was planned against: the merge commits only while it holds. */
  leftConfVer: number;
  leftVersion: number;
  /** Index of the Freeze entry in this range's log. */
  index: number;
  term: number;
}

/**
 * A merge with this range as its left range, in the left range's log: `pending` from its
 * BeginMerge until it is decided, then `committed` or `aborted` (an AbortMerge, or any
 * epoch change, came first). Kept for the last MAX_MERGE_OUTCOMES merges, on disk and in
 * the range's snapshots. The right range may unfreeze only once a replica of the left one
 * holds `aborted` for its merge; a range with a pending merge cannot be frozen by another.
 */
export interface MergeOutcome {
  mergeId: number;
  state: 'pending' | 'committed' | 'aborted';
}

/** Merge outcomes a range keeps (the oldest decided ones go first; a pending one stays). */
export const MAX_MERGE_OUTCOMES = 32;

/** The last compacted log entry (the log starts right after it). */
export interface TruncatedState {
  index: number;
  term: number;
}
