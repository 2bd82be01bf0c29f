// Public API of @rangekv/client.
export {
  RangeKvClient,
  type RangeKvClientOptions, type CallOptions, type ReadOptions, type ScanOptions, type CasOptions, type CasResult,
  type OperatorOptions, type ListRangesOptions,
} from './client.js';
export {
  RangeKvError, InvalidArgumentError, AmbiguousWriteError, DeadlineExceededError, RetriesExhaustedError,
  PdUnavailableError, PdRequestError, OperatorFailedError, StoreError,
} from './errors.js';
export type {
  Bytes, KeyValue, ReadConsistency, RangeInfo, StoreState, StoreInfo, OperatorKind, OperatorStatus, OperatorInfo,
  ConfigEntryInfo, SchedulerInfo, PdConfigInfo, PdMemberRole, PdMemberInfo, PdMembership,
} from './types.js';
/** Ranges as every rangekv package holds them: @rangekv/proto's one definition. */
export {
  ReplicaRole, replicaRoleName, type ReplicaRoleName, type ReplicaDescriptor, type RangeEpoch, type RangeDescriptor,
} from '@rangekv/proto';
export { AMBIGUOUS_METADATA_KEY } from './channels.js';
export { backoffDelayMs, type BackoffOptions, type Clock } from './backoff.js';
export { loadClientTls, explainConnectFailure, type ClientTlsOptions, type ClientTls } from './tls.js';
