// Builders for the typed range errors of proto/metadata.proto, and the conversion of a
// stored range descriptor to its wire form (errors carry descriptors so clients can
// re-route without asking PD).
import { metapb } from '@rangekv/proto';
import { ReplicaRole, type RangeDescriptor, type ReplicaDescriptor } from '@rangekv/storage';

type RangeErrorProps = metapb.RangeError.$Properties;

/**
 * Storage's replica roles name the joint-configuration halves more finely than the wire
 * enum: an outgoing-only voter that is being removed (VoterOutgoing) has no wire value of
 * its own and is shown as VOTER_DEMOTING (outgoing half only) too.
 */
function roleToProto(role: ReplicaRole): metapb.ReplicaRole {
  switch (role) {
    case ReplicaRole.Voter: return metapb.ReplicaRole.VOTER;
    case ReplicaRole.Learner: return metapb.ReplicaRole.LEARNER;
    case ReplicaRole.VoterIncoming: return metapb.ReplicaRole.VOTER_INCOMING;
    case ReplicaRole.VoterOutgoing: return metapb.ReplicaRole.VOTER_DEMOTING;
    case ReplicaRole.VoterDemoting: return metapb.ReplicaRole.VOTER_DEMOTING;
  }
}

export function replicaToProto(r: ReplicaDescriptor): metapb.Replica.$Properties {
  return { storeId: r.storeId, replicaId: r.replicaId, role: roleToProto(r.role) };
}

export function descriptorToProto(d: RangeDescriptor): metapb.RangeDescriptor.$Properties {
  return {
    rangeId: d.rangeId,
    startKey: d.startKey,
    endKey: d.endKey,
    epoch: { confVer: d.epoch.confVer, version: d.epoch.version },
    replicas: d.replicas.map(replicaToProto),
  };
}

function roleFromProto(role: metapb.ReplicaRole | null | undefined): ReplicaRole {
  switch (role) {
    case metapb.ReplicaRole.LEARNER: return ReplicaRole.Learner;
    case metapb.ReplicaRole.VOTER_INCOMING: return ReplicaRole.VoterIncoming;
    case metapb.ReplicaRole.VOTER_DEMOTING: return ReplicaRole.VoterDemoting;
    default: return ReplicaRole.Voter;
  }
}

/** A descriptor from the wire (PD); throws on missing ids. */
export function descriptorFromProto(d: metapb.RangeDescriptor.$Properties): RangeDescriptor {
  const rangeId = d.rangeId ?? 0;
  if (!Number.isSafeInteger(rangeId) || rangeId <= 0) throw new RangeError(`descriptor without a range id`);
  return {
    rangeId,
    startKey: new Uint8Array(d.startKey ?? new Uint8Array(0)),
    endKey: new Uint8Array(d.endKey ?? new Uint8Array(0)),
    epoch: { confVer: d.epoch?.confVer ?? 0, version: d.epoch?.version ?? 0 },
    replicas: (d.replicas ?? []).map((r) => {
      if (!r.storeId || !r.replicaId) throw new RangeError(`range ${rangeId}: replica without store or replica id`);
      return { storeId: r.storeId, replicaId: r.replicaId, role: roleFromProto(r.role) };
    }).sort((a, b) => a.replicaId - b.replicaId),
  };
}

/** `leaderReplicaId` 0 = unknown: the hint is left out. */
export function notLeader(rangeId: number, desc: RangeDescriptor | null, leaderReplicaId: number, why: string): RangeErrorProps {
  const leader = leaderReplicaId === 0 ? undefined : desc?.replicas.find((r) => r.replicaId === leaderReplicaId);
  const hint = leader ? ` (leader: store ${leader.storeId}, replica ${leader.replicaId})` : ' (leader unknown)';
  return {
    message: `range ${rangeId}: not leader: ${why}${hint}`,
    notLeader: leader ? { rangeId, leader: replicaToProto(leader) } : { rangeId },
  };
}

export function rangeNotFound(rangeId: number, storeId: number): RangeErrorProps {
  return { message: `range ${rangeId} not found on store ${storeId}`, rangeNotFound: { rangeId } };
}

export function keyNotInRange(key: Uint8Array, desc: RangeDescriptor): RangeErrorProps {
  return {
    message: `key ${Buffer.from(key).toString('hex')} is not in range ${desc.rangeId}`,
    keyNotInRange: { key, descriptor: descriptorToProto(desc) },
  };
}

/**
 * `others`: ranges on this store that hold part of the span the requester believed in
 * (after a split, the right-hand ranges), so a client can re-route without asking PD.
 */
export function epochNotMatch(desc: RangeDescriptor, requested: { confVer: number; version: number }, others: readonly RangeDescriptor[] = []): RangeErrorProps {
  return {
    message: `range ${desc.rangeId}: epoch version ${requested.version} does not match current ${desc.epoch.version}`,
    epochNotMatch: { current: [desc, ...others].map(descriptorToProto) },
  };
}

export function serverBusy(reason: string, backoffMs = 0): RangeErrorProps {
  return { message: `server busy: ${reason}`, serverBusy: { reason, backoffMs } };
}
