// Joint quorums: during a configuration change both the outgoing and the incoming voter
// sets must agree, so no decision can be taken by a majority of only one of them.
import type { NodeId } from '../types.js';
import { majorityCommittedIndex, majorityVoteResult, VoteResult } from './majority.js';

/** The two voter halves of a configuration; `outgoing` is empty when not joint. */
export interface JointVoters {
  incoming: readonly NodeId[];
  outgoing: readonly NodeId[];
}

/**
 * The largest index committed under both halves: the minimum of the two majorities.
 * Example: incoming (1 2 3) acked 9 9 1 → 9; outgoing (1 4 5) acked 9 2 2 → 2; joint → 2.
 */
export function jointCommittedIndex(
  cfg: JointVoters,
  acked: (id: NodeId) => number | undefined,
): number {
  const a = majorityCommittedIndex(cfg.incoming, acked);
  const b = majorityCommittedIndex(cfg.outgoing, acked);
  return a < b ? a : b;
}

/** Won only when both halves won; Lost as soon as either half lost; else Pending. */
export function jointVoteResult(
  cfg: JointVoters,
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const a = majorityVoteResult(cfg.incoming, votes);
  const b = majorityVoteResult(cfg.outgoing, votes);
  if (a === b) return a;
  if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost;
  return VoteResult.Pending;
}
