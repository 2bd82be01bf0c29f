// Public API of @rangekv/testkit: the deterministic cluster simulation, the history
// recorder and the linearizability checker.
export {
  type KvOp, type KvResult, type ReadMode, type HistoryOp, type HistoryEvent,
  HistoryRecorder, formatOp, formatResult,
} from './history.js';
export {
  checkOperations, type Model, type Operation, type CheckResult, type CheckOptions,
} from './check/linearizability.js';
export {
  checkKvHistory, registerModel, dropUnobservableWrites, describe as describeHistoryOp,
  type RegisterState, type KvCheckOptions, type KvCheckResult,
} from './check/kv-check.js';
export {
  NetworkModel, cleanFaults, DEFAULT_NETWORK_OPTIONS, type NetworkOptions, type NetworkFaults,
} from './sim/network.js';
export {
  availabilityTable, formatAvailability, quantile, recoveryByRange, recoveryMs, type AvailabilityRow, type ProbeOp,
} from './check/availability.js';
export { EventQueue } from './sim/event-queue.js';
export { KvStateMachine, encodeCommand, decodeCommand, type KvCommand, type ApplyOutcome } from './sim/kv-state-machine.js';
export { Invariants, SafetyViolation } from './sim/invariants.js';
export { UNITS_PER_TICK, formatTime } from './sim/time.js';
export { SimNode, type NodeStatus, type ClientRequest, isMember, isVoter, formatConf } from './sim/sim-node.js';
export { Cluster, type ClusterOptions, type ClusterStats, type SimRaftSettings, type ClientResponse } from './sim/cluster.js';
export { describeConfChange } from './sim/describe.js';
export { Clients, type ClientOptions, type ClientStats } from './sim/clients.js';
export { FaultInjector, generateSchedule, formatEpisode, FAULT_KINDS, type FaultEpisode, type FaultKind, type ScheduleOptions } from './sim/faults.js';
export {
  runSeed, settingsFor, DEFAULT_SAFETY_TICKS, DEFAULT_LIVENESS_TICKS,
  type SeedOptions, type SeedResult, type SeedFailure, type Phase,
} from './sim/run-seed.js';
export { runSeedsInPool, summarize, type SeedJob, type SeedSummary } from './sim/seed-pool.js';
export { shrinkSeed, type ShrinkResult } from './sim/shrink.js';
export { type Sabotage } from './sim/cluster.js';
export { type SeedSettings } from './sim/run-seed.js';
