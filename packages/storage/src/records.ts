// Plain-data records the engine stores besides raft's own types (range descriptor, applied
// and truncated state), and their shape checks.
import type { ConfState, HardState } from '@rangekv/raft';

export type { ConfState, HardState };

/** The last entry folded into the range's state machine, with its term. */
export interface AppliedState {
  index: number;
  term: number;
}

/** The last compacted log entry (the log starts right after it). */
export interface TruncatedState {
  index: number;
  term: number;
}

export const ReplicaRole = {
  Voter: 0,
  Learner: 1,
  /** Joint configuration: voter in the incoming half only. */
  VoterIncoming: 2,
  /** Joint configuration: voter in the outgoing half only. */
  VoterOutgoing: 3,
  /** Joint configuration: outgoing voter that becomes a learner when the joint config is left. */
  VoterDemoting: 4,
} as const;
export type ReplicaRole = (typeof ReplicaRole)[keyof typeof ReplicaRole];

export interface ReplicaDescriptor {
  storeId: number;
  replicaId: number;
  role: ReplicaRole;
}

export interface RangeEpoch {
  /** Bumped by every membership change. */
  confVer: number;
  /** Bumped by every split and merge. */
  version: number;
}

/** A range: its key span [startKey, endKey) (empty endKey = end of keyspace) and replicas. */
export interface RangeDescriptor {
  rangeId: number;
  startKey: Uint8Array;
  endKey: Uint8Array;
  epoch: RangeEpoch;
  replicas: ReplicaDescriptor[];
}

export function isReplicaRole(v: number): v is ReplicaRole {
  return Number.isInteger(v) && v >= 0 && v <= 4;
}
