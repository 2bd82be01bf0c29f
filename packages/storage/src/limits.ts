// Every limit of the storage engine, named with its unit, with its default. A StorageEngine
// takes a Partial<StorageLimits>; resolveLimits fills in and checks the rest.

export interface StorageLimits {
  /** Max payload bytes of one log entry; a Ready holding a bigger one is refused whole. */
  maxEntryBytes: number;
  /** Per range: max entries in the in-memory log-tail cache. */
  maxCachedEntries: number;
  /** Per range: max bytes (payload + 24 bytes overhead per entry) in the log-tail cache. */
  maxCacheBytes: number;
  /** Whole store: max bytes in all log-tail caches; least recently appended ranges lose theirs first. */
  maxTotalCacheBytes: number;
  /** Log writer: requests submitted and not yet durable; beyond it submit() waits. */
  maxQueuedRequests: number;
  /** Log writer: encoded bytes submitted and not yet durable; beyond it submit() waits. */
  maxQueuedBytes: number;
  /** Log writer: one request's encoded bytes (must fit in maxQueuedBytes). */
  maxRequestBytes: number;
  /** Log writer: encoded bytes merged into one sync batch (a bigger single request goes alone). */
  maxSyncBatchBytes: number;
  /** Log writer: requests merged into one sync batch; 1 turns group commit off. */
  maxRequestsPerSync: number;
  /**
   * Log writer: the most encoded bytes a caller may write and sync on its own thread
   * (`tryWriteNow`) when nothing else is queued, skipping the hop to the log-writer thread.
   */
  maxDirectWriteBytes: number;
  /**
   * Log writer: while the moving average of sync batches' write + fsync time (weight 1/8
   * per batch) is above this, the direct path is paused (a caller's thread blocked that
   * long serves nothing meanwhile: a slow disk).
   */
  maxDirectSyncMicros: number;
  /** Range snapshots: max bytes of key/value data in one chunk (one pair may exceed it alone). */
  maxSnapshotChunkBytes: number;
  /**
   * RocksDB: bytes the user-data column family's memtables are sized from (write buffers
   * of a quarter, at most 6; the raft log family gets half, meta a quarter).
   */
  memtableBudgetBytes: number;
  /** RocksDB: block cache bytes of the user-data column family (raft log half, meta a quarter). */
  blockCacheBytes: number;
  /** Background deletion (compacted log, destroyed ranges): keys per batch between yields. */
  deleteBatchKeys: number;
  /** Snapshot ingest: bytes of data per (non-sync) batch between yields. */
  ingestBatchBytes: number;
}

export const DEFAULT_LIMITS: Readonly<StorageLimits> = Object.freeze({
  maxEntryBytes: 8 << 20,
  maxCachedEntries: 1024,
  maxCacheBytes: 1 << 20,
  maxTotalCacheBytes: 256 << 20,
  maxQueuedRequests: 16384,
  maxQueuedBytes: 64 << 20,
  maxRequestBytes: 64 << 20,
  maxSyncBatchBytes: 16 << 20,
  maxRequestsPerSync: 1 << 16,
  maxDirectWriteBytes: 64 << 10,
  maxDirectSyncMicros: 5_000,
  maxSnapshotChunkBytes: 1 << 20,
  memtableBudgetBytes: 32 << 20,
  blockCacheBytes: 8 << 20,
  deleteBatchKeys: 1024,
  ingestBatchBytes: 4 << 20,
});

export function resolveLimits(partial: Partial<StorageLimits> = {}): StorageLimits {
  const l: StorageLimits = { ...DEFAULT_LIMITS, ...partial };
  for (const [name, v] of Object.entries(l)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`storage limit ${name} must be a positive integer, got ${String(v)}`);
  }
  // The binding reads the cache size as a uint32; a budget under 4 MiB makes write buffers under 1 MiB.
  if (l.blockCacheBytes > 0xffff_ffff) throw new RangeError(`storage limit blockCacheBytes must be at most ${0xffff_ffff}, got ${l.blockCacheBytes}`);
  if (l.memtableBudgetBytes < 4 << 20) throw new RangeError(`storage limit memtableBudgetBytes must be at least ${4 << 20}, got ${l.memtableBudgetBytes}`);
  if (l.maxRequestBytes > l.maxQueuedBytes) {
    throw new RangeError(`storage limit maxRequestBytes (${l.maxRequestBytes}) must not exceed maxQueuedBytes (${l.maxQueuedBytes})`);
  }
  return l;
}
