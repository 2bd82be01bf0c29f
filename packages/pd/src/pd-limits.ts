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
  /** How often the leader balance scheduler looks at the leaders (balance-leader.ts). */
  leaderBalanceIntervalMs: number;
  /**
   * Ratio (0.1 = 10 %): a store is over-loaded above floor(mean × (1 + this)) leaders and
   * under-loaded below ceil(mean × (1 − this)) (outside mean ± 10 %); only then does the scheduler act.
   */
  leaderBalanceTolerance: number;
  /** TRANSFER_LEADER operators of the scheduler RUNNING at once (the ones already running count). */
  maxLeaderBalanceOperators: number;
  /**
   * After becoming the serving leader, the scheduler waits this long: a new leader knows no
   * range leaders until the stores report them (every 5 s by default), and acting on a
   * partial view would move leaders onto stores that already have their share.
   */
  leaderBalanceWarmupMs: number;
  /** A range whose newest report (or operator look-up) is older than this is not counted or moved. */
  leaderBalanceMaxReportAgeMs: number;
  /** Slow-store eviction (slow-store.ts): a heartbeat's sync latency must be above this to be slow, µs. */
  slowStoreMinSyncMicros: number;
  /** ... and above this many times the median of the other Up stores' (a ratio >= 1). */
  slowStoreRatio: number;
  /** Slow heartbeats in a row before the store's leaders are moved away. */
  slowStoreHeartbeats: number;
  /** An evicted store may lead again after this long without a slow heartbeat. */
  slowStoreRecoverMs: number;
  /** Voters every range should have (the replica checker adds, replaces and removes towards it). */
  replicaCount: number;
  /** A store silent this long is dead: the replica checker replaces its replicas (TiKV's max-store-down-time). */
  maxStoreDownTimeMs: number;
  /** How often the replica checker plans. */
  replicaCheckIntervalMs: number;
  /** After becoming the serving leader, the replica checker waits this long for the stores' range reports. */
  replicaCheckWarmupMs: number;
  /** Operators of the replica checker RUNNING at once (each may ship a snapshot). */
  maxReplicaCheckerOperators: number;
  /** How often the replica balance scheduler plans (balance-replica.ts); it warms up like the replica checker. */
  replicaBalanceIntervalMs: number;
  /** Ratio (0.1 = 10 %): replicas per store may differ from the mean this much before they move. */
  replicaBalanceTolerance: number;
  /** MOVE_REPLICA operators of replica balance RUNNING at once (each ships a snapshot). */
  maxReplicaBalanceOperators: number;
  /** Ratio: a store whose disk is used above this fraction takes no replica from replica balance. */
  lowSpaceRatio: number;
  /** The split checker (split-checker.ts) splits a range whose leader reports this many bytes or more... */
  rangeSplitBytes: number;
  /** ...or this many keys or more. */
  rangeSplitKeys: number;
  /** How often the split checker plans. */
  splitCheckIntervalMs: number;
  /** SPLIT operators of the split checker RUNNING at once. */
  maxSplitCheckerOperators: number;
  /** How often the hot-range scheduler plans (balance-hot.ts): no faster than the stores' range reports (5 s) measure. */
  hotBalanceIntervalMs: number;
  /** A store leading above this many times the mean write load is hot (a ratio > 1). */
  hotLoadRatio: number;
  /** ...and above this many writes per second (an idle cluster has no hot spot). */
  minHotWritesPerSecond: number;
  /** TRANSFER_LEADER operators of the hot-range scheduler RUNNING at once (a swap is 2). */
  maxHotOperators: number;
  /**
   * The merge checker (merge-checker.ts) merges two adjacent ranges when each is below this
   * many bytes as its leader measured (TiKV's max-merge-region-size, 20 MiB)... Pairs that
   * together would reach rangeSplitBytes are left alone, so this may exceed half of it.
   */
  mergeMaxSizeBytes: number;
  /** ...and below this many keys (TiKV's max-merge-region-keys); pairs that together reach rangeSplitKeys are left alone. */
  mergeMaxKeys: number;
  /**
   * A range split less than this long ago is not merged (TiKV's split-merge-interval, 1 h):
   * a range split by size or by hand is not merged back at once. A new PD leader has seen
   * no split: it counts every range from when it began serving, so it merges nothing for
   * this long either.
   */
  splitMergeIntervalMs: number;
  /** MERGE operators of the merge checker RUNNING at once (TiKV's merge-schedule-limit, 8). */
  mergeScheduleLimit: number;
  /** How often the merge checker plans. */
  mergeCheckIntervalMs: number;
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
  leaderBalanceIntervalMs: 1_000,
  leaderBalanceTolerance: 0.1,
  maxLeaderBalanceOperators: 4,
  leaderBalanceWarmupMs: 10_000,
  leaderBalanceMaxReportAgeMs: 30_000,
  slowStoreMinSyncMicros: 50_000,
  slowStoreRatio: 10,
  slowStoreHeartbeats: 2,
  slowStoreRecoverMs: 10_000,
  replicaCount: 3,
  maxStoreDownTimeMs: 1_800_000,
  replicaCheckIntervalMs: 1_000,
  replicaCheckWarmupMs: 10_000,
  maxReplicaCheckerOperators: 4,
  replicaBalanceIntervalMs: 1_000,
  replicaBalanceTolerance: 0.1,
  maxReplicaBalanceOperators: 2,
  lowSpaceRatio: 0.8,
  rangeSplitBytes: 96 << 20,
  rangeSplitKeys: 960_000,
  splitCheckIntervalMs: 1_000,
  maxSplitCheckerOperators: 4,
  hotBalanceIntervalMs: 5_000,
  hotLoadRatio: 1.5,
  minHotWritesPerSecond: 100,
  maxHotOperators: 2,
  mergeMaxSizeBytes: 20 << 20,
  mergeMaxKeys: 200_000,
  splitMergeIntervalMs: 3_600_000,
  mergeScheduleLimit: 8,
  mergeCheckIntervalMs: 1_000,
};

/** Largest leaderBalanceTolerance: beyond 1 the lower bound is below 0 and the upper one meaningless. */
export const MAX_LEADER_BALANCE_TOLERANCE = 1;

/** Why `l` is not a usable set of limits, or null. Every limit is a positive integer except the two ratios. */
export function pdLimitsProblem(l: PdLimits): string | null {
  for (const [k, v] of Object.entries(l)) {
    if (k === 'leaderBalanceTolerance' || k === 'slowStoreRatio' || k === 'replicaBalanceTolerance' || k === 'lowSpaceRatio' || k === 'hotLoadRatio') continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return `PD limit ${k} must be a positive integer, got ${String(v)}`;
  }
  const t = l.leaderBalanceTolerance;
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > MAX_LEADER_BALANCE_TOLERANCE) {
    return `PD limit leaderBalanceTolerance must be a ratio in [0, ${MAX_LEADER_BALANCE_TOLERANCE}], got ${String(t)}`;
  }
  const rt = l.replicaBalanceTolerance;
  if (typeof rt !== 'number' || !Number.isFinite(rt) || rt < 0 || rt > MAX_LEADER_BALANCE_TOLERANCE) {
    return `PD limit replicaBalanceTolerance must be a ratio in [0, ${MAX_LEADER_BALANCE_TOLERANCE}], got ${String(rt)}`;
  }
  const ls = l.lowSpaceRatio;
  if (typeof ls !== 'number' || !Number.isFinite(ls) || ls <= 0 || ls > 1) return `PD limit lowSpaceRatio must be a ratio in (0, 1], got ${String(ls)}`;
  const h = l.hotLoadRatio;
  if (typeof h !== 'number' || !Number.isFinite(h) || h <= 1) return `PD limit hotLoadRatio must be a ratio above 1, got ${String(h)}`;
  const r = l.slowStoreRatio;
  if (typeof r !== 'number' || !Number.isFinite(r) || r < 1) return `PD limit slowStoreRatio must be a ratio >= 1, got ${String(r)}`;
  return null;
}

/**
 * The limits `rangekv ctl config set` may change at run time (persisted in PD's replicated
 * state, over the process's flags and defaults). Timers' intervals are not among them:
 * they are fixed when PD starts.
 */
export const RUNTIME_CONFIG_KEYS = [
  'replicaCount', 'maxStoreDownTimeMs', 'storeDownAfterMs', 'leaderBalanceTolerance', 'maxLeaderBalanceOperators',
  'replicaBalanceTolerance', 'maxReplicaBalanceOperators', 'maxReplicaCheckerOperators', 'lowSpaceRatio', 'rangeSplitBytes',
  'rangeSplitKeys', 'maxSplitCheckerOperators', 'hotLoadRatio', 'minHotWritesPerSecond', 'maxHotOperators',
  'mergeMaxSizeBytes', 'mergeMaxKeys', 'splitMergeIntervalMs', 'mergeScheduleLimit',
] as const satisfies readonly (keyof PdLimits)[];

export type RuntimeConfigKey = (typeof RUNTIME_CONFIG_KEYS)[number];

/** Largest replicaCount (voters per range). */
export const MAX_REPLICA_COUNT = 7;

export function isRuntimeConfigKey(k: string): k is RuntimeConfigKey {
  return (RUNTIME_CONFIG_KEYS as readonly string[]).includes(k);
}

/** Why `value` is not a usable `key` on its own, or null (the checks between limits come from pdLimitsProblem). */
export function runtimeConfigProblem(key: string, value: number): string | null {
  if (!isRuntimeConfigKey(key)) return `${key} is not a setting that can change at run time (one of: ${RUNTIME_CONFIG_KEYS.join(', ')})`;
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${key} must be a finite number, got ${String(value)}`;
  const ratio = key === 'leaderBalanceTolerance' || key === 'replicaBalanceTolerance' || key === 'lowSpaceRatio' || key === 'hotLoadRatio';
  if (ratio) return null; // pdLimitsProblem bounds each ratio
  if (!Number.isSafeInteger(value) || value <= 0) return `${key} must be a positive integer, got ${value}`;
  if (key === 'replicaCount' && value > MAX_REPLICA_COUNT) return `replicaCount must be in 1..${MAX_REPLICA_COUNT}, got ${value}`;
  return null;
}

/** The limits as a whole with `overrides` applied: why they do not work together, or null. */
export function effectiveLimitsProblem(l: PdLimits): string | null {
  const p = pdLimitsProblem(l);
  if (p !== null) return p;
  if (l.replicaCount > MAX_REPLICA_COUNT) return `replicaCount must be in 1..${MAX_REPLICA_COUNT}, got ${l.replicaCount}`;
  if (l.maxStoreDownTimeMs < l.storeDownAfterMs) {
    return `maxStoreDownTimeMs (${l.maxStoreDownTimeMs}) must not be below storeDownAfterMs (${l.storeDownAfterMs})`;
  }
  return null;
}
