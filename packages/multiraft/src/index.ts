// Public API of @rangekv/multiraft: the Multi-Raft host and its parts.
export {
  RaftHost, type HostService, type RaftHostOptions, type RangeStatusSummary, type HostCounters, type RaftTuning,
} from './raft-host.js';
export {
  RaftScheduler, EntryApplyError, ReplicaFailedError, DEFAULT_SCHEDULER_LIMITS,
  type GroupHost, type ApplyEntry, type SchedulerLimits, type SchedulerStats,
} from './raft-scheduler.js';
export { Replica, type ApplyWork, type ProposalOutcome, type WriteStages, type WriteStage } from './replica.js';
export { realClock, every, type HostClock, type TimerHandle } from './host-clock.js';
export { raftTransport, type HostTransport, type TransportFactory, type TransportHandlers } from './host-transport.js';
export { DEFAULT_TIMING, resolveTiming, leaseWakeTicks, type HostTiming } from './timing.js';
export { TickClock, type TickClockOptions } from './tick-clock.js';
export { StoreLiveness, type StoreLivenessOptions, type PeerLiveness } from './store-liveness.js';
export { WAKE_READ_CTX, isWakeReadCtx, type WakeReason } from './quiescence.js';
export {
  LogCompactor, resolveLogCompactionLimits, DEFAULT_LOG_COMPACTION_LIMITS, type LogCompactionLimits, type LogCompactorCounters,
} from './log-compactor.js';
export { SnapshotShipper, type SnapshotCounters, type SnapshotShipperDeps } from './snapshot-shipper.js';
export {
  UninitializedReplicas, resolveUninitializedLimits, DEFAULT_UNINITIALIZED_LIMITS, createsReplica,
  type UninitializedReplicasDeps, type UninitializedLimits,
} from './uninitialized-replicas.js';
export { resolveSnapshotLimits, DEFAULT_SNAPSHOT_LIMITS, type SnapshotLimits } from './snapshot-limits.js';
export {
  ReplicaGc, DEFAULT_REPLICA_GC_LIMITS, removedByDescriptor, type ReplicaGcCounters, type ReplicaGcDeps, type ReplicaGcLimits, type ReplicaGcQuery,
} from './replica-gc.js';
