// Public API of @rangekv/pd.
export { PdServer, type PdServerOptions, type PdPeerAddress } from './pd-server.js';
export { PdService, type PdServiceOptions } from './pd-service.js';
export { PdRaftGroup, PdProposalError, PD_RANGE_ID, type PdRaftOptions } from './pd-raft.js';
export { PdState, newWrites, DEFAULT_PD_STATE_LIMITS, FIRST_GENERAL_ID, FIRST_STORE_ID, type PdStateLimits, type PdWrites } from './pd-state.js';
export { encodePdCommand, decodePdCommand, type PdCommand, type PdCommandResult, type IdSpaceName } from './pd-command.js';
export { PdDecodeError } from './pd-codec.js';
export { RangeIndex } from './range-index.js';
export { OperatorRunner, DEFAULT_OPERATOR_LIMITS, type OperatorLimits, type CreateOperatorInput } from './operator-runner.js';
export { DEFAULT_PD_LIMITS, MAX_LEADER_BALANCE_TOLERANCE, pdLimitsProblem, type PdLimits } from './pd-limits.js';
export {
  planLeaderTransfers, type BalanceRange, type LeaderBalancePlanLimits, type LeaderBalanceView, type LeaderTransfer,
} from './balance-leader.js';
export {
  BALANCE_LEADER_SCHEDULER, BALANCE_REPLICA_SCHEDULER, EVICT_SLOW_STORE_SCHEDULER, REPLICA_CHECKER_SCHEDULER, SPLIT_CHECKER_SCHEDULER,
  BALANCE_HOT_SCHEDULER, SCHEDULER_NAMES, SchedulerLoop, type SchedulerLoopHost, type SchedulerLoopLimits,
} from './scheduler-loop.js';
export { planHotMoves, storeLoads, type HotLimits, type HotMove, type HotRange, type HotView } from './balance-hot.js';
export { planSplits, type PlannedSplit, type SplitCandidate, type SplitLimits, type SplitView } from './split-checker.js';
export { planMerges, type MergeCandidate, type MergeLimits, type MergeView, type PlannedMerge } from './merge-checker.js';
export { planReplicaMoves, lowSpace, type BalanceStore, type ReplicaBalanceLimits, type ReplicaBalanceView, type ReplicaMove } from './balance-replica.js';
export {
  planReplicaFixes, type CheckerRange, type CheckerReplica, type CheckerStore, type ReplicaCheckLimits, type ReplicaCheckView, type ReplicaFix,
} from './replica-checker.js';
export { PdRequestError, type PdErrorCode } from './errors.js';
export { StoreAdminClients, StoreCallError, type StoreAdminCaller } from './store-admin-client.js';
export { parsePdFlags, pdFlagsFrom, parsePdPeers, PD_FLAGS, PD_USAGE, type PdFlags } from './pd-flags.js';
export * from './types.js';
