// Majority quorums: the commit index and the vote outcome of one set of voters.
//
// Both functions sit on the leader's hot path (committedIndex runs for every AppResp),
// so they allocate nothing for realistic group sizes.
import type { NodeId } from '../types.js';

export const VoteResult = {
  /** Neither outcome is decided yet: enough voters have not answered. */
  Pending: 0,
  /** Enough voters rejected that a majority of grants is impossible. */
  Lost: 1,
  /** A majority granted. */
  Won: 2,
} as const;
export type VoteResult = (typeof VoteResult)[keyof typeof VoteResult];

/** Voter sets up to this size sort in a shared scratch buffer; larger ones allocate. */
const SCRATCH_VOTERS_MAX = 16;
const scratch = new Float64Array(SCRATCH_VOTERS_MAX);

/** How many voters out of `n` form a majority. */
export function majoritySize(n: number): number {
  return (n >> 1) + 1;
}

/**
 * The largest index acknowledged by a majority of `voters`. A voter without an ack
 * counts as 0.
 *
 * Example: voters (1 2 3) acked 7, 5, 9 → sorted 5 7 9; two of three voters have at least
 * 7, so 7 is committed.
 *
 * An empty voter set returns Number.MAX_SAFE_INTEGER: it is the neutral element of the
 * `min` taken over the two halves of a joint configuration, so a non-joint
 * configuration (empty outgoing half) is governed by its incoming half alone.
 *
 * `acked` must not call back into this function (the scratch buffer is shared).
 */
export function majorityCommittedIndex(
  voters: readonly NodeId[],
  acked: (id: NodeId) => number | undefined,
): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  const buf = n <= SCRATCH_VOTERS_MAX ? scratch : new Float64Array(n);
  // Insertion sort while filling: n is tiny (3-7 in practice), so this beats sort()
  // and needs no comparator closure.
  for (let i = 0; i < n; i++) {
    const v = acked(voters[i]) ?? 0;
    let j = i;
    while (j > 0 && buf[j - 1] > v) {
      buf[j] = buf[j - 1];
      j--;
    }
    buf[j] = v;
  }
  // Ascending order: the value at n - majority is held by exactly `majority` voters or more.
  return buf[n - majoritySize(n)];
}

/**
 * The outcome of an election among `voters`, given the votes received so far (votes from
 * non-voters are ignored). An empty voter set wins, for the same reason as above.
 */
export function majorityVoteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const n = voters.length;
  if (n === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (let i = 0; i < n; i++) {
    const v = votes.get(voters[i]);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = majoritySize(n);
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}
