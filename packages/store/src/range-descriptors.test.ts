import assert from 'node:assert/strict';
import { test } from 'node:test';
import { descriptorFromWire, descriptorToWire, metapb, ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { descriptorAfterConfChange } from './range-descriptors.js';

const d: RangeDescriptor = {
  rangeId: 9, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 4, version: 2 },
  replicas: [1, 2, 3, 5].map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter })),
};

const roles = (x: RangeDescriptor): Array<[number, ReplicaRole]> => x.replicas.map((r) => [r.replicaId, r.role]);

test('a membership change outside a joint config leaves voters and learners, confVer + 1', () => {
  const after = descriptorAfterConfChange(d, { voters: [1, 2, 3], learners: [5], votersOutgoing: [], learnersNext: [], autoLeave: false }, new Map());
  assert.deepEqual(roles(after), [[1, ReplicaRole.Voter], [2, ReplicaRole.Voter], [3, ReplicaRole.Voter], [5, ReplicaRole.Learner]]);
  assert.deepEqual(after.epoch, { confVer: 5, version: 2 });
});

test('a joint config names each half: incoming only, outgoing only (removed on leave), outgoing only (a learner on leave)', () => {
  // Replace 3 by 4 and demote 5: incoming {1, 2, 4}, outgoing {1, 2, 3, 5}, 5 a learner next.
  const cs = { voters: [1, 2, 4], learners: [], votersOutgoing: [1, 2, 3, 5], learnersNext: [5], autoLeave: true };
  const after = descriptorAfterConfChange(d, cs, new Map([[4, 4]]));
  const expected: Array<[number, ReplicaRole]> = [
    [1, ReplicaRole.Voter], [2, ReplicaRole.Voter], [3, ReplicaRole.VoterOutgoing], [4, ReplicaRole.VoterIncoming], [5, ReplicaRole.VoterDemoting],
  ];
  assert.deepEqual(roles(after), expected);
  // PD and clients see the same roles: the wire carries all five apart.
  const wire = metapb.RangeDescriptor.decode(metapb.RangeDescriptor.encode(descriptorToWire(after)).finish());
  assert.deepEqual(roles(descriptorFromWire(wire)), expected);
});

test('a replica that joins without a store in the change context is a bug: it throws', () => {
  const cs = { voters: [1, 2, 3, 5, 6], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
  assert.throws(() => descriptorAfterConfChange(d, cs, new Map()), /replica 6 joined without a store/);
});
