// Raft configuration: every limit is named with its unit and has a default.
import type { Prng } from './prng.js';
import type { RaftStorage } from './storage.js';
import type { NodeId } from './types.js';

export interface RaftConfig {
  id: NodeId;
  storage: RaftStorage;
  /** Source of randomness (election timeouts). Seeded in tests and simulation. */
  prng: Prng;
  /** Followers campaign after [electionTimeoutTicks, 2*electionTimeoutTicks) ticks of silence. */
  electionTimeoutTicks: number;
  heartbeatIntervalTicks: number;
  /** The state machine's applied index at (re)start; committed entries above it are replayed. */
  applied?: number;
  /** Max bytes of entries in one App message (at least one entry is always sent). */
  maxMsgBytes?: number;
  /** Max App messages in flight to one follower in replicate state. */
  maxInflightMsgs?: number;
  /** Max bytes of entries in flight to one follower (0 = unlimited). */
  maxInflightBytes?: number;
  /** Max payload bytes of appended but uncommitted entries on the leader. */
  maxUncommittedEntriesBytes?: number;
  /** Max bytes of committed entries handed out for apply and not yet applied. */
  maxApplyBytes?: number;
  /** Max payload bytes of one proposed entry. */
  maxEntryBytes?: number;
  /** Max ReadIndex requests waiting on one leader. */
  maxPendingReads?: number;
  /** Leader steps down without an active quorum; followers ignore votes while in a lease. */
  checkQuorum?: boolean;
  preVote?: boolean;
  /** Lease reads stop this many ticks before followers could elect someone else (clock drift bound). */
  leaseMarginTicks?: number;
  /**
   * A commit advance is not broadcast in empty appends: followers learn it from the next
   * append or heartbeat (in the multiraft host, from the quiesce heartbeat: RawNode.commitFromQuiesce).
   * Saves an append and its answer per follower for a write to an otherwise idle group;
   * followers apply up to a heartbeat interval later. Default false.
   */
  lazyCommitBroadcast?: boolean;
  /**
   * A Ready carries at most one App per follower for contiguous entries of one term
   * (coalesce.ts): proposals taken in one turn reach each follower in one message, which
   * it persists and answers once. Default false.
   */
  coalesceAppends?: boolean;
  /**
   * A periodic heartbeat round skips a follower in replicate state that was sent entries
   * since the previous round (and no read waits for a quorum): the append already reset
   * its election timer, and its answer extends the lease (raft-leader.ts, leaseValid).
   * Under steady writes to many groups this halves the messages of a write. Default false.
   */
  skipHeartbeatsAfterAppends?: boolean;
  /**
   * A candidate sends its vote requests at once, while its new term and self-vote are
   * being persisted, instead of after; it becomes leader only once that persist is done
   * (its own vote counts from then), so it never leads on a term it could forget. One
   * fsync round less per election and leadership transfer. Default false.
   */
  earlyVoteRequests?: boolean;
  /** Optional trace sink (tests, simulation replay). */
  trace?: (line: string) => void;
}

export interface ResolvedRaftConfig extends Required<Omit<RaftConfig, 'trace'>> {
  trace: ((line: string) => void) | null;
}

export function resolveConfig(c: RaftConfig): ResolvedRaftConfig {
  const r: ResolvedRaftConfig = {
    id: c.id,
    storage: c.storage,
    prng: c.prng,
    electionTimeoutTicks: c.electionTimeoutTicks,
    heartbeatIntervalTicks: c.heartbeatIntervalTicks,
    applied: c.applied ?? 0,
    maxMsgBytes: c.maxMsgBytes ?? 1 << 20,
    maxInflightMsgs: c.maxInflightMsgs ?? 256,
    maxInflightBytes: c.maxInflightBytes ?? 16 << 20,
    maxUncommittedEntriesBytes: c.maxUncommittedEntriesBytes ?? 64 << 20,
    maxApplyBytes: c.maxApplyBytes ?? 8 << 20,
    maxEntryBytes: c.maxEntryBytes ?? 8 << 20,
    maxPendingReads: c.maxPendingReads ?? 4096,
    checkQuorum: c.checkQuorum ?? true,
    preVote: c.preVote ?? true,
    leaseMarginTicks: c.leaseMarginTicks ?? 2,
    lazyCommitBroadcast: c.lazyCommitBroadcast ?? false,
    coalesceAppends: c.coalesceAppends ?? false,
    skipHeartbeatsAfterAppends: c.skipHeartbeatsAfterAppends ?? false,
    earlyVoteRequests: c.earlyVoteRequests ?? false,
    trace: c.trace ?? null,
  };
  const bad = (why: string): never => {
    throw new RangeError(`invalid raft config: ${why}`);
  };
  if (!Number.isInteger(r.id) || r.id <= 0) bad(`id must be a positive integer, got ${r.id}`);
  if (!(r.heartbeatIntervalTicks >= 1)) bad('heartbeatIntervalTicks must be >= 1');
  if (!(r.electionTimeoutTicks > r.heartbeatIntervalTicks)) bad('electionTimeoutTicks must exceed heartbeatIntervalTicks');
  if (!(r.maxInflightMsgs >= 1)) bad('maxInflightMsgs must be >= 1');
  if (!(r.maxMsgBytes >= 1)) bad('maxMsgBytes must be >= 1');
  if (!(r.maxApplyBytes >= 1)) bad('maxApplyBytes must be >= 1');
  if (!(r.maxPendingReads >= 1)) bad('maxPendingReads must be >= 1');
  if (!(r.leaseMarginTicks >= 0 && r.leaseMarginTicks < r.electionTimeoutTicks)) {
    bad('leaseMarginTicks must be in [0, electionTimeoutTicks)');
  }
  return r;
}
