import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metapb, wireSchema } from './index.js';
import {
  ReplicaRole, descriptorFromWire, descriptorToWire, isReplicaRole, replicaFromWire, replicaRoleName, replicaToWire,
  type RangeDescriptor,
} from './range-descriptor.js';

// Storage writes these numbers in its descriptor records and the wire carries them in
// metapb.Replica.role: data dirs and peers of other builds read them. Never change one.
const PINNED_ROLES = { Voter: 0, Learner: 1, VoterIncoming: 2, VoterOutgoing: 3, VoterDemoting: 4 } as const;
const PINNED_WIRE_ROLES = { VOTER: 0, LEARNER: 1, VOTER_INCOMING: 2, VOTER_OUTGOING: 3, VOTER_DEMOTING: 4 } as const;

const desc: RangeDescriptor = {
  rangeId: 7,
  startKey: new Uint8Array([0x61]),
  endKey: new Uint8Array([0x6d]),
  epoch: { confVer: 3, version: 9 },
  replicas: [
    { storeId: 1, replicaId: 11, role: ReplicaRole.Voter },
    { storeId: 2, replicaId: 12, role: ReplicaRole.Learner },
    { storeId: 3, replicaId: 13, role: ReplicaRole.VoterIncoming },
    { storeId: 4, replicaId: 14, role: ReplicaRole.VoterOutgoing },
    { storeId: 5, replicaId: 15, role: ReplicaRole.VoterDemoting },
  ],
};

test('replica role numbers are the pinned ones, in the definition and on the wire', () => {
  assert.deepEqual({ ...ReplicaRole }, PINNED_ROLES);
  assert.deepEqual(wireSchema.enums['rangekv.meta.ReplicaRole'], PINNED_WIRE_ROLES);
  for (const [name, n] of Object.entries(PINNED_WIRE_ROLES)) {
    assert.equal((metapb.ReplicaRole as unknown as Record<string, number>)[name], n, name);
  }
});

test('a replica encodes its role as the pinned number (field 3 varint)', () => {
  for (const role of Object.values(PINNED_ROLES)) {
    const bytes = Buffer.from(metapb.Replica.encode(replicaToWire({ storeId: 1, replicaId: 2, role })).finish());
    // store_id 1, replica_id 2, then role (absent when 0: proto3 default).
    assert.equal(bytes.toString('hex'), role === 0 ? '08011002' : `0801100218${role.toString(16).padStart(2, '0')}`);
    assert.deepEqual(replicaFromWire(metapb.Replica.decode(bytes)), { storeId: 1, replicaId: 2, role });
  }
});

test('a descriptor crosses the wire unchanged, every role included', () => {
  const bytes = metapb.RangeDescriptor.encode(descriptorToWire(desc)).finish();
  assert.deepEqual(descriptorFromWire(metapb.RangeDescriptor.decode(bytes)), desc);
});

test('descriptorFromWire: absent fields are zero or empty, replicas ascending by replica id', () => {
  const d = descriptorFromWire({ replicas: [{ storeId: 2, replicaId: 9 }, { storeId: 1, replicaId: 4, role: metapb.ReplicaRole.LEARNER }] });
  assert.deepEqual(d, {
    rangeId: 0, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 0, version: 0 },
    replicas: [{ storeId: 1, replicaId: 4, role: ReplicaRole.Learner }, { storeId: 2, replicaId: 9, role: ReplicaRole.Voter }],
  });
});

test('descriptorFromWire copies keys out of the received buffer', () => {
  const received = metapb.RangeDescriptor.decode(metapb.RangeDescriptor.encode(descriptorToWire(desc)).finish());
  const d = descriptorFromWire(received);
  assert.notEqual(d.startKey.buffer, received.startKey.buffer);
  assert.equal(d.startKey.byteLength, d.startKey.buffer.byteLength);
});

test('a role number outside the definition is a programming error', () => {
  assert.throws(() => replicaFromWire({ storeId: 1, replicaId: 1, role: 5 as metapb.ReplicaRole }), TypeError);
  assert.equal(isReplicaRole(5), false);
  assert.equal(isReplicaRole(-1), false);
  assert.equal(isReplicaRole(1.5), false);
  assert.equal(isReplicaRole(4), true);
});

test('role names people see: one per role', () => {
  assert.deepEqual(Object.values(ReplicaRole).map(replicaRoleName), ['voter', 'learner', 'voter-incoming', 'voter-outgoing', 'voter-demoting']);
});
