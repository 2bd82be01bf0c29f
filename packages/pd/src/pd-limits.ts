// PD's limits and timings, each named with its unit.
export interface PdLimits {
  /** A store whose last heartbeat is older than this is DOWN. */
  storeDownAfterMs: number;
  /** Largest ScanRanges answer (limit 0 or above: this many). */
  maxScanRanges: number;
  /** Largest AllocIds count. */
  maxAllocIdsCount: number;
  /** Ids the leader reserves through raft at a time (AllocIds is served from the block). */
  idBlockSize: number;
  /** Range reports of one RangeHeartbeat. */
  maxRangeReportsPerHeartbeat: number;
  /** Range records per raft entry when persisting reported descriptor changes. */
  maxRangesPerEntry: number;
  /** Finished operators ListOperators returns (most recent first, after the running ones). */
  maxListedFinishedOperators: number;
  /** gRPC message size, both directions. */
  maxGrpcMessageBytes: number;
}

export const DEFAULT_PD_LIMITS: PdLimits = {
  storeDownAfterMs: 10_000,
  maxScanRanges: 1_000,
  maxAllocIdsCount: 10_000,
  idBlockSize: 1_000,
  maxRangeReportsPerHeartbeat: 10_000,
  maxRangesPerEntry: 1_000,
  maxListedFinishedOperators: 100,
  maxGrpcMessageBytes: 16 << 20,
};
