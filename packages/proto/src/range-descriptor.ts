// The range descriptor, its epoch and the replica roles: the one definition every package
// holds ranges in (storage on disk, the store, PD, the client), and its one mapping to
// the wire form of proto/metadata.proto.
//
// Loading this module loads no generated code (its only import is of types), so
// @rangekv/storage and the worker threads that load it can use it through
// '@rangekv/proto/range-descriptor' without paying for the bindings.
import type { metapb } from './index.js';

/**
 * A replica's place in its range's raft configuration. The numbers are the ones stored
 * on disk (storage's descriptor record) and sent on the wire (metapb.ReplicaRole): never
 * renumber one. A joint configuration (raft's ConfChangeV2) has an incoming and an
 * outgoing voter set; the three joint roles say which half a replica votes in:
 *
 *   role            incoming voters  outgoing voters  after the joint config is left
 *   Voter           yes              yes (or none)    voter
 *   VoterIncoming   yes              no               voter
 *   VoterOutgoing   no               yes              removed
 *   VoterDemoting   no               yes              learner
 *   Learner         no               no               learner
 */
export const ReplicaRole = {
  Voter: 0,
  Learner: 1,
  /** Joint configuration: voter in the incoming half only (being added). */
  VoterIncoming: 2,
  /** Joint configuration: voter in the outgoing half only, removed when the joint config is left. */
  VoterOutgoing: 3,
  /** Joint configuration: voter in the outgoing half only, a learner when the joint config is left. */
  VoterDemoting: 4,
} as const;
export type ReplicaRole = (typeof ReplicaRole)[keyof typeof ReplicaRole];

export function isReplicaRole(v: number): v is ReplicaRole {
  return Number.isInteger(v) && v >= ReplicaRole.Voter && v <= ReplicaRole.VoterDemoting;
}

const ROLE_NAMES = {
  [ReplicaRole.Voter]: 'voter',
  [ReplicaRole.Learner]: 'learner',
  [ReplicaRole.VoterIncoming]: 'voter-incoming',
  [ReplicaRole.VoterOutgoing]: 'voter-outgoing',
  [ReplicaRole.VoterDemoting]: 'voter-demoting',
} as const satisfies Record<ReplicaRole, string>;

/** How people and scripts see a role (CLI tables and JSON): 'voter', 'voter-demoting', ... */
export type ReplicaRoleName = (typeof ROLE_NAMES)[ReplicaRole];

export function replicaRoleName(role: ReplicaRole): ReplicaRoleName {
  return ROLE_NAMES[role];
}

export interface ReplicaDescriptor {
  storeId: number;
  /** Unique inside its range (the raft node id), never reused in that range. */
  replicaId: number;
  role: ReplicaRole;
}

export interface RangeEpoch {
  /** Bumped by every membership change. */
  confVer: number;
  /** Bumped by every split and merge. */
  version: number;
}

/**
 * A range: its key span [startKey, endKey) (empty startKey = start of the keyspace, empty
 * endKey = its end) and replicas, ascending by replicaId.
 */
export interface RangeDescriptor {
  rangeId: number;
  startKey: Uint8Array;
  endKey: Uint8Array;
  epoch: RangeEpoch;
  replicas: ReplicaDescriptor[];
}

// ---- the wire (proto/metadata.proto) --------------------------------------------------
//
// Roles cross unchanged: metapb.ReplicaRole has the same members with the same numbers
// (roleToWire and roleFromWire do not compile otherwise; range-descriptor.test.ts pins
// the numbers and the names). Conversions copy shapes only and check nothing a receiver
// decides (ids, spans, limits): PD, the store and the client each check what they accept.

function roleToWire(role: ReplicaRole): metapb.ReplicaRole {
  return role;
}

/** Absent = VOTER (proto3's default). Decoding already refused a number outside the enum. */
function roleFromWire(role: metapb.ReplicaRole | null | undefined): ReplicaRole {
  const r: ReplicaRole = role ?? ReplicaRole.Voter;
  if (!isReplicaRole(r)) throw new TypeError(`${String(role)} is not a replica role`);
  return r;
}

function bytesFromWire(b: Uint8Array | null | undefined): Uint8Array {
  // A copy: a decoded message's bytes are views into the whole received buffer.
  return b ? new Uint8Array(b) : new Uint8Array(0);
}

export function replicaToWire(r: ReplicaDescriptor): metapb.Replica.$Properties {
  return { storeId: r.storeId, replicaId: r.replicaId, role: roleToWire(r.role) };
}

/** Absent ids read as 0. */
export function replicaFromWire(r: metapb.Replica.$Properties): ReplicaDescriptor {
  return { storeId: r.storeId ?? 0, replicaId: r.replicaId ?? 0, role: roleFromWire(r.role) };
}

export function descriptorToWire(d: RangeDescriptor): metapb.RangeDescriptor.$Properties {
  return {
    rangeId: d.rangeId,
    startKey: d.startKey,
    endKey: d.endKey,
    epoch: { confVer: d.epoch.confVer, version: d.epoch.version },
    replicas: d.replicas.map(replicaToWire),
  };
}

/** Absent numbers read as 0, absent keys as empty; replicas sorted by replicaId. */
export function descriptorFromWire(d: metapb.RangeDescriptor.$Properties): RangeDescriptor {
  return {
    rangeId: d.rangeId ?? 0,
    startKey: bytesFromWire(d.startKey),
    endKey: bytesFromWire(d.endKey),
    epoch: { confVer: d.epoch?.confVer ?? 0, version: d.epoch?.version ?? 0 },
    replicas: (d.replicas ?? []).map(replicaFromWire).sort((a, b) => a.replicaId - b.replicaId),
  };
}
