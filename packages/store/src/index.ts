// Public API of @rangekv/store.
export {
  RaftScheduler, EntryApplyError, ReplicaFailedError, DEFAULT_SCHEDULER_LIMITS, type GroupHost, type ApplyEntry, type SchedulerLimits, type SchedulerStats,
} from './raft-scheduler.js';
export { Replica, type ApplyWork, type ProposalOutcome } from './replica.js';
export { StoreServer, type StoreServerOptions, type RaftTuning, type RangeStatusSummary } from './store-server.js';
export {
  bootstrapStore, claimDataDir, firstRangeDescriptor, bootstrapDescriptors, BootstrapError, STORE_IDENT_FILE, FIRST_RANGE_ID,
  type BootstrapOptions, type StoreIdentity,
} from './bootstrap.js';
export { KvService, type KvStoreContext } from './kv-service.js';
export { addKvService, toServiceError } from './kv-grpc.js';
export {
  applyKvEntries, runKvEntries, rocksKvReader, type KvResult, type KvReader, type KvApplyExtra, type KvApplyOutput,
} from './kv-state-machine.js';
export { InlineKvApplier, type KvApplier } from './kv-applier.js';
export {
  PoolKvApplier, ApplyPoolClosedError, DEFAULT_APPLY_WORKERS, DEFAULT_APPLY_POOL_LIMITS, resolveApplyPoolLimits,
  type ApplyPoolLimits, type ApplyPoolStats,
} from './apply-pool.js';
export {
  encodeKvCommand, decodeKvCommand, KvCommandDecodeError, KvCommandType, KV_COMMAND_FORMAT, type KvCommand,
} from './kv-command.js';
export { PendingReads, type PendingReadLimits } from './pending-reads.js';
export { DEFAULT_STORE_LIMITS, resolveStoreLimits, type StoreLimits } from './limits.js';
export {
  AMBIGUOUS_METADATA_KEY, AmbiguousResultError, InvalidArgumentError, RangeErrorReply, UnavailableError,
} from './errors.js';
export { AdminService, MAX_LIST_RANGES, type AdminStoreContext } from './admin-service.js';
export { addAdminService } from './admin-grpc.js';
export { PdLink, PdCaller, PdUnavailableError, allocStoreId, DEFAULT_PD_LINK_LIMITS, type PdLinkLimits, type PdLinkHost } from './pd-link.js';
export { FailedPreconditionError } from './errors.js';
export { storeIdSpace, PD_BOOTSTRAP_MARKER } from './store-server.js';
export { descriptorFromProto, descriptorToProto, replicaToProto, notLeader, rangeNotFound, keyNotInRange, epochNotMatch, serverBusy } from './range-errors.js';
export { parseStoreFlags, storeFlagsFrom, parsePeers, STORE_FLAGS, STORE_USAGE, type StoreFlags } from './store-flags.js';
export { TickClock, type TickClockOptions } from './tick-clock.js';
export { StoreLiveness, type StoreLivenessOptions, type PeerLiveness } from './store-liveness.js';
export { WAKE_READ_CTX, isWakeReadCtx, type WakeReason } from './quiescence.js';
// Used by packages/pd to drive its own raft group with the store's machinery.
export { LogCompactor, resolveLogCompactionLimits, DEFAULT_LOG_COMPACTION_LIMITS, type LogCompactionLimits, type LogCompactorCounters } from './log-compactor.js';
export { SnapshotShipper, type SnapshotCounters, type SnapshotShipperDeps } from './snapshot-shipper.js';
export {
  UninitializedReplicas, resolveUninitializedLimits, DEFAULT_UNINITIALIZED_LIMITS, type UninitializedReplicasDeps, type UninitializedLimits,
} from './uninitialized-replicas.js';
export { resolveSnapshotLimits, DEFAULT_SNAPSHOT_LIMITS, type SnapshotLimits } from './snapshot-limits.js';
