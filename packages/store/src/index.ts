// Public API of @rangekv/store.
export { RaftScheduler, DEFAULT_SCHEDULER_LIMITS, type GroupHost, type ApplyEntry, type SchedulerLimits, type SchedulerStats } from './raft-scheduler.js';
export { Replica, type ApplyWork, type ProposalOutcome } from './replica.js';
export { StoreServer, type StoreServerOptions, type RaftTuning, type RangeStatusSummary } from './store-server.js';
export { bootstrapStore, claimDataDir, firstRangeDescriptor, bootstrapDescriptors, BootstrapError, STORE_IDENT_FILE, FIRST_RANGE_ID, type BootstrapOptions } from './bootstrap.js';
export { KvService, type KvStoreContext } from './kv-service.js';
export { addKvService, toServiceError } from './kv-grpc.js';
export { applyKvEntries, type KvResult } from './kv-state-machine.js';
export {
  encodeKvCommand, decodeKvCommand, KvCommandDecodeError, KvCommandType, KV_COMMAND_FORMAT, type KvCommand,
} from './kv-command.js';
export { PendingReads, type PendingReadLimits } from './pending-reads.js';
export { DEFAULT_STORE_LIMITS, resolveStoreLimits, type StoreLimits } from './limits.js';
export {
  AMBIGUOUS_METADATA_KEY, AmbiguousResultError, InvalidArgumentError, RangeErrorReply, UnavailableError,
} from './errors.js';
export { descriptorToProto, replicaToProto, notLeader, rangeNotFound, keyNotInRange, epochNotMatch, serverBusy } from './range-errors.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.js';
export { parseStoreFlags, parsePeers, parseAddress, FlagError, STORE_USAGE, type StoreFlags } from './store-flags.js';
export { TickClock, type TickClockOptions } from './tick-clock.js';
export { StoreLiveness, type StoreLivenessOptions, type PeerLiveness } from './store-liveness.js';
export { WAKE_READ_CTX, isWakeReadCtx, type WakeReason } from './quiescence.js';
