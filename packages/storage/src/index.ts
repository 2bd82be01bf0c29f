// Public API of @rangekv/storage.
export { StorageEngine, DEFAULT_SYNC_DELAY_MS, type StorageEngineOptions, type MemEngineOptions, type OpenReport } from './engine.js';
export { RangeLogStore, type RangeState, type LogStoreStats } from './log-store.js';
export { ReadyBatch } from './persist-ready.js';
export type { LogAppend } from './log-append.js';
export type { ApplyBatch } from './apply-writes.js';
export { encodeApplyBatch, checkApplyBatch, encodeApplyWrites } from './apply-writes.js';
export type { CreateRangeInit, DestroyOptions, MergeInit } from './range-lifecycle.js';
export { RIGHT_INIT, type SplitInit } from './range-split.js';
export { IdAllocator, type IdSpace } from './id-allocator.js';
export { LogWriter, type LogWriterStats, type LogWriterLimits } from './log-writer.js';
export type { LogWriterBackend, LogWriterEvents, ConnectBackend } from './log-writer-protocol.js';
export { MAX_INJECTED_SYNC_DELAY_MS } from './log-writer-protocol.js';
export { WriteOps, forEachOp } from './write-ops.js';
export type { Db, Cursor, KeyValue, SpanOptions, BatchWriter } from './db.js';
export { RocksDb } from './rocks.js';
export { MemDisk, type MemDiskOptions, type CrashOptions, type CrashReport } from './mem-disk.js';
export { MemDb } from './mem-db.js';
export { memLogWriterBackend, type SyncDelay, type SyncBatchInfo } from './mem-log-writer.js';
export type { StorageClock, NextTurn } from './storage-clock.js';
export type { StagingFs } from './staging-fs.js';
export { ColumnFamily, COLUMN_FAMILY_NAMES } from './column-families.js';
export { DEFAULT_LIMITS, resolveLimits, type StorageLimits } from './limits.js';
export { SnapshotSource } from './snapshot-source.js';
export { SnapshotReceiver, type StagedSnapshot } from './snapshot-receiver.js';
export { InjectedCrashError, type IngestFaults } from './snapshot-ingest.js';
export { encodeSnapshotHeader, decodeSnapshotHeader, decodeSnapshotChunk, type SnapshotHeader, type SnapshotChunk } from './snapshot-codec.js';
export { encodeSnapshotRef, decodeSnapshotRef, type SnapshotRef } from './snapshot-ref.js';
export { FORMAT_VERSION } from './store-format.js';
export type { AppliedState, MergeFreeze, MergeOutcome, TruncatedState } from './records.js';
export { MAX_MERGE_OUTCOMES } from './records.js';
export {
  RECORD_VERSION, encodeEntry, decodeEntry, encodeHardState, decodeHardState, encodeConfState, decodeConfState,
  encodeTruncatedState, decodeTruncatedState, encodeAppliedState, decodeAppliedState, encodeDescriptor, decodeDescriptor,
  encodeMergeFreeze, decodeMergeFreeze,
} from './encoding.js';
export {
  KeyPrefix, FORMAT_VERSION_KEY, entryKey, parseEntryKey, hardStateKey, rangeKey, parseRangeKey, compareKeys, keyInSpan, spansOverlap, spanContains,
} from './keys.js';
export {
  StorageError, FormatVersionError, ColumnFamilyMismatchError, UnknownRangeError, RangeExistsError, EntryTooLargeError,
  KeyOutOfRangeError, DecodeError, LogWriterClosedError, RequestTooLargeError, SnapshotError,
} from './errors.js';
export { ByteWriter, ByteReader, withRoom } from './binary.js';
