// Builders for the typed range errors of proto/metadata.proto (errors carry descriptors
// so clients can re-route without asking PD; descriptors cross with @rangekv/proto's
// descriptorToWire).
import { descriptorToWire, replicaToWire, type metapb, type RangeDescriptor } from '@rangekv/proto';

type RangeErrorProps = metapb.RangeError.$Properties;

/** `leaderReplicaId` 0 = unknown: the hint is left out. */
export function notLeader(rangeId: number, desc: RangeDescriptor | null, leaderReplicaId: number, why: string): RangeErrorProps {
  const leader = leaderReplicaId === 0 ? undefined : desc?.replicas.find((r) => r.replicaId === leaderReplicaId);
  const hint = leader ? ` (leader: store ${leader.storeId}, replica ${leader.replicaId})` : ' (leader unknown)';
  return {
    message: `range ${rangeId}: not leader: ${why}${hint}`,
    notLeader: leader ? { rangeId, leader: replicaToWire(leader) } : { rangeId },
  };
}

export function rangeNotFound(rangeId: number, storeId: number): RangeErrorProps {
  return { message: `range ${rangeId} not found on store ${storeId}`, rangeNotFound: { rangeId } };
}

export function keyNotInRange(key: Uint8Array, desc: RangeDescriptor): RangeErrorProps {
  return {
    message: `key ${Buffer.from(key).toString('hex')} is not in range ${desc.rangeId}`,
    keyNotInRange: { key, descriptor: descriptorToWire(desc) },
  };
}

/**
 * `others`: ranges on this store that hold part of the span the requester believed in
 * (after a split, the right-hand ranges), so a client can re-route without asking PD.
 */
export function epochNotMatch(desc: RangeDescriptor, requested: { confVer: number; version: number }, others: readonly RangeDescriptor[] = []): RangeErrorProps {
  return {
    message: `range ${desc.rangeId}: epoch version ${requested.version} does not match current ${desc.epoch.version}`,
    epochNotMatch: { current: [desc, ...others].map(descriptorToWire) },
  };
}

export function serverBusy(reason: string, backoffMs = 0): RangeErrorProps {
  return { message: `server busy: ${reason}`, serverBusy: { reason, backoffMs } };
}
