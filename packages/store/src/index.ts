// Public API of @rangekv/store.
export { StoreServer, type StoreServerOptions } from './store-server.js';
export {
  bootstrapStore, claimDataDir, firstRangeDescriptor, bootstrapDescriptors, BootstrapError, STORE_IDENT_FILE, FIRST_RANGE_ID,
  type BootstrapOptions, type StoreIdentity,
} from './bootstrap.js';
export { KvService, type KvStoreContext } from './kv-service.js';
export { KvStore, type KvStoreOptions, type KvStoreEvents } from './kv-store.js';
export { addKvService, toServiceError } from './kv-grpc.js';
export {
  applyKvEntries, runKvEntries, dbKvReader, type KvResult, type KvReader, type KvApplyExtra, type KvApplyOutput,
} from './kv-state-machine.js';
export { InlineKvApplier, type KvApplier } from './kv-applier.js';
export {
  PoolKvApplier, ApplyPoolClosedError, APPLY_WORKER_MIN_CORES, defaultApplyWorkers, DEFAULT_APPLY_POOL_LIMITS, resolveApplyPoolLimits,
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
export { PdLink, PdCaller, PdUnavailableError, allocStoreId, mergedAway, DEFAULT_PD_LINK_LIMITS, type PdLinkLimits, type PdLinkHost } from './pd-link.js';
export { FailedPreconditionError } from './errors.js';
export { parseFaultCommand, FaultCommandError, type FaultCommand } from './fault-injection.js';
export { storeIdSpace, PD_BOOTSTRAP_MARKER } from './store-server.js';
export { notLeader, rangeNotFound, keyNotInRange, epochNotMatch, serverBusy } from './range-errors.js';
export { parseStoreFlags, storeFlagsFrom, parsePeers, STORE_FLAGS, STORE_USAGE, type StoreFlags } from './store-flags.js';
export {
  AdminCommandType, encodeAdminCommand, decodeAdminCommand, isAdminCommand, type AdminCommand, type MergeCommand,
} from './admin-command.js';
