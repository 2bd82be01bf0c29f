// The store's named limits on client requests and pending work. Every queue and every
// request size is bounded; a request over a size limit gets INVALID_ARGUMENT with the
// limit's name, a full queue gets ServerBusy.
export interface StoreLimits {
  /** Largest key, in bytes (keys must also be non-empty). */
  maxKeyBytes: number;
  /** Largest value, in bytes. */
  maxValueBytes: number;
  /** Most keys in one BatchGet or pairs in one BatchPut. */
  maxBatchKeys: number;
  /** Most key + value bytes in one BatchPut (one raft entry; raft's maxEntryBytes is 8 MiB). */
  maxBatchBytes: number;
  /** Largest Scan `limit`; a Scan with limit 0 gets this many pairs at most. */
  maxScanLimit: number;
  /** A Scan stops (more = true) once its pairs exceed this many bytes (clients' gRPC receive limit is 4 MiB). */
  maxScanResponseBytes: number;
  /** Reads waiting for a ReadIndex answer or for apply, per range; more get ServerBusy. */
  maxPendingReadsPerRange: number;
  /** A read not served within this many ms fails with UNAVAILABLE (safe to retry). */
  readTimeoutMs: number;
  /** Proposals waiting for their entry to apply, per range; more get ServerBusy. */
  maxPendingProposalsPerRange: number;
  /** A write not applied within this many ms is answered as ambiguous (it may still apply). */
  proposalTimeoutMs: number;
  /**
   * A write with no leader to go to (its range's leadership is being transferred, or this
   * replica knows no leader while an election decides), or a leader read finding no leader
   * that way, waits up to this many ms for one to be known (leader-waits.ts), then is
   * served here or answered NotLeader with the leader as hint. Below the clients'
   * rpcTimeoutMs (1 s), after which a silent store is suspected.
   */
  leaderWaitMs: number;
  /**
   * A learner is promoted to voter (PromoteLearner, ReplaceVoter) only when the leader knows
   * it holds some of the log and at most this many entries less than the leader's; else
   * FAILED_PRECONDITION. A voter that cannot append yet counts against the quorum and can
   * leave the range unable to elect (PD promotes within 16 entries).
   */
  maxPromoteLagEntries: number;
  /** Largest gRPC request the KV server accepts, in bytes (above the content limits, so those answer first). */
  maxGrpcMessageBytes: number;
  /** How long stop() lets in-flight gRPC calls finish before cutting them, in ms. */
  stopGraceMs: number;
  /** How long a graceful stop tries to move this store's leaderships to other stores first, in ms. */
  leaderDrainMs: number;
  /** Merge: how long the coordinator waits for every replica of the frozen right range to hold its log up to the freeze, in ms; then it rolls back. */
  mergeCatchUpMs: number;
  /** Merge: how long the left range's apply of a commit waits for the local right replica to apply up to the freeze, in ms; then that left replica fails. */
  mergeApplyWaitMs: number;
  /** Merge: a range frozen this long, in ms, with no coordinator here, is rolled back by the store watchdog (or merged, if the left range committed). */
  mergeFrozenTimeoutMs: number;
}

export const DEFAULT_STORE_LIMITS: Readonly<StoreLimits> = Object.freeze({
  maxKeyBytes: 4096,
  maxValueBytes: 1 << 20,
  maxBatchKeys: 1024,
  maxBatchBytes: 4 << 20,
  maxScanLimit: 10_000,
  maxScanResponseBytes: 3 << 20,
  maxPendingReadsPerRange: 1024,
  readTimeoutMs: 5_000,
  maxPendingProposalsPerRange: 4096,
  proposalTimeoutMs: 10_000,
  leaderWaitMs: 300,
  maxPromoteLagEntries: 1_000,
  maxGrpcMessageBytes: 6 << 20,
  stopGraceMs: 1_000,
  leaderDrainMs: 5_000,
  mergeCatchUpMs: 5_000,
  mergeApplyWaitMs: 30_000,
  mergeFrozenTimeoutMs: 10_000,
});

export function resolveStoreLimits(l: Partial<StoreLimits> = {}): StoreLimits {
  const r: StoreLimits = { ...DEFAULT_STORE_LIMITS, ...l };
  for (const [k, v] of Object.entries(r)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`store limit ${k} must be a positive integer, got ${String(v)}`);
  }
  if (r.maxGrpcMessageBytes <= Math.max(r.maxBatchBytes, r.maxKeyBytes + r.maxValueBytes)) {
    throw new RangeError('store limit maxGrpcMessageBytes must exceed maxBatchBytes and maxKeyBytes + maxValueBytes');
  }
  return r;
}
