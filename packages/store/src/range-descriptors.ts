// How admin operations change a range descriptor. Pure functions: every replica computes
// the same descriptor from the same entry and the same prior state.
//
//   split at K:   [a, z) v3  ->  left [a, K) v4  +  right (new id) [K, z) v4, same replicas
//   membership:   replicas follow raft's ConfState (voters, learners, joint halves),
//                 confVer + 1; the stores of added replicas come from the change's context.
import type { ConfState } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor, type ReplicaDescriptor } from '@rangekv/proto';
import { keyInSpan } from '@rangekv/storage';

/** Why `key` cannot split `d`, or null when it can (strictly inside the span). */
export function splitKeyProblem(d: RangeDescriptor, key: Uint8Array): string | null {
  if (key.length === 0) return 'split key is empty';
  if (!keyInSpan(key, d.startKey, d.endKey)) return `split key ${Buffer.from(key).toString('hex')} is outside range ${d.rangeId}`;
  if (Buffer.compare(key, d.startKey) === 0) return `split key equals the start of range ${d.rangeId} (the left half would be empty)`;
  return null;
}

export function splitDescriptors(d: RangeDescriptor, key: Uint8Array, rightRangeId: number): { left: RangeDescriptor; right: RangeDescriptor } {
  const problem = splitKeyProblem(d, key);
  if (problem !== null) throw new RangeError(problem);
  const epoch = { confVer: d.epoch.confVer, version: d.epoch.version + 1 };
  const splitKey = new Uint8Array(key);
  return {
    left: { ...d, endKey: splitKey, epoch, replicas: d.replicas.map((r) => ({ ...r })) },
    right: { rangeId: rightRangeId, startKey: splitKey, endKey: d.endKey, epoch, replicas: d.replicas.map((r) => ({ ...r })) },
  };
}

/** True while raft is in a joint configuration (a split then waits: the right range would inherit it). */
export function isJoint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

function roleIn(cs: ConfState, id: number): ReplicaRole | null {
  const incoming = cs.voters.includes(id);
  const outgoing = cs.votersOutgoing.includes(id);
  if (!isJoint(cs)) {
    if (incoming) return ReplicaRole.Voter;
    return cs.learners.includes(id) ? ReplicaRole.Learner : null;
  }
  if (incoming && outgoing) return ReplicaRole.Voter;
  if (incoming) return ReplicaRole.VoterIncoming;
  if (outgoing) return cs.learnersNext.includes(id) ? ReplicaRole.VoterDemoting : ReplicaRole.VoterOutgoing;
  return cs.learners.includes(id) ? ReplicaRole.Learner : null;
}

/**
 * The descriptor after a membership change applied: one replica per id in `cs`, on the
 * store the old descriptor or the change's context names, confVer + 1. Throws if a new
 * replica's store is unknown (the proposer always names it).
 */
export function descriptorAfterConfChange(d: RangeDescriptor, cs: ConfState, addedStores: ReadonlyMap<number, number>): RangeDescriptor {
  const ids = new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]);
  const replicas: ReplicaDescriptor[] = [];
  for (const id of [...ids].sort((a, b) => a - b)) {
    const role = roleIn(cs, id);
    if (role === null) continue;
    const storeId = d.replicas.find((r) => r.replicaId === id)?.storeId ?? addedStores.get(id);
    if (storeId === undefined) throw new Error(`range ${d.rangeId}: replica ${id} joined without a store in the change's context`);
    replicas.push({ storeId, replicaId: id, role });
  }
  return { ...d, epoch: { confVer: d.epoch.confVer + 1, version: d.epoch.version }, replicas };
}
