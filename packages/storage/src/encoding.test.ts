import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntryType } from '@rangekv/raft';
import { ReplicaRole, type RangeDescriptor } from '@rangekv/proto/range-descriptor';
import {
  RECORD_VERSION, decodeAppliedState, decodeConfState, decodeDescriptor, decodeEntry, decodeEntryTerm, decodeHardState,
  decodeTruncatedState, encodeAppliedState, encodeConfState, encodeDescriptor, encodeEntry, encodedEntryBytes,
  encodeHardState, encodeTruncatedState,
} from './encoding.js';
import { DecodeError } from './errors.js';
import { ChunkBuilder, decodeSnapshotChunk, decodeSnapshotHeader, encodeSnapshotHeader } from './snapshot-codec.js';
import { decodeSnapshotRef, encodeSnapshotRef } from './snapshot-ref.js';
import { WriteOps, forEachOp } from './write-ops.js';
import { ColumnFamily } from './column-families.js';

const desc: RangeDescriptor = {
  rangeId: 2 ** 40, startKey: Buffer.from('apple'), endKey: new Uint8Array(0), epoch: { confVer: 3, version: 9 },
  replicas: [
    { storeId: 1, replicaId: 11, role: ReplicaRole.Voter },
    { storeId: 2, replicaId: 12, role: ReplicaRole.Learner },
    { storeId: 3, replicaId: 13, role: ReplicaRole.VoterDemoting },
  ],
};

test('every record round trips, including numbers beyond 32 bits', () => {
  const e = { index: 99, term: 2 ** 45 + 1, type: EntryType.ConfChange, data: Buffer.from('hello') };
  const enc = encodeEntry(e);
  assert.equal(enc.length, encodedEntryBytes(e));
  assert.deepEqual({ ...decodeEntry(99, enc), data: Buffer.from(decodeEntry(99, enc).data) }, e);
  assert.equal(decodeEntryTerm(enc), e.term);
  const hs = { term: 2 ** 50, vote: 3, commit: 2 ** 33 };
  assert.deepEqual(decodeHardState(encodeHardState(hs)), hs);
  const cs = { voters: [1, 2, 3], learners: [4], votersOutgoing: [1, 2, 5], learnersNext: [5], autoLeave: true };
  assert.deepEqual(decodeConfState(encodeConfState(cs)), cs);
  assert.deepEqual(decodeTruncatedState(encodeTruncatedState({ index: 7, term: 2 })), { index: 7, term: 2 });
  assert.deepEqual(decodeAppliedState(encodeAppliedState({ index: 2 ** 52, term: 0 })), { index: 2 ** 52, term: 0 });
  const d = decodeDescriptor(encodeDescriptor(desc));
  assert.deepEqual({ ...d, startKey: Buffer.from(d.startKey), endKey: Buffer.from(d.endKey) }, { ...desc, endKey: Buffer.alloc(0) });
  const h = { descriptor: desc, applied: { index: 12, term: 4 }, confState: cs };
  const h2 = decodeSnapshotHeader(encodeSnapshotHeader(h));
  assert.equal(h2.applied.index, 12);
  assert.deepEqual(h2.confState, cs);
  const ref = { rangeId: 5, index: 10, term: 2, stagingId: 'r5-i10-t2-abcd' };
  assert.deepEqual(decodeSnapshotRef(encodeSnapshotRef(ref)), ref);
});

test('a descriptor record is byte-for-byte the format data dirs hold: role numbers on disk never change', () => {
  // v rangeId 'a' 'm' confVer version |5| then (storeId replicaId role) per replica.
  const written = '01' + '07' + '0161' + '016d' + '03' + '09' + '05' + '010b00' + '020c01' + '030d02' + '040e03' + '050f04';
  const d: RangeDescriptor = {
    rangeId: 7, startKey: new Uint8Array(Buffer.from('a')), endKey: new Uint8Array(Buffer.from('m')), epoch: { confVer: 3, version: 9 },
    replicas: [
      { storeId: 1, replicaId: 11, role: ReplicaRole.Voter },
      { storeId: 2, replicaId: 12, role: ReplicaRole.Learner },
      { storeId: 3, replicaId: 13, role: ReplicaRole.VoterIncoming },
      { storeId: 4, replicaId: 14, role: ReplicaRole.VoterOutgoing },
      { storeId: 5, replicaId: 15, role: ReplicaRole.VoterDemoting },
    ],
  };
  assert.equal(encodeDescriptor(d).toString('hex'), written);
  assert.deepEqual(decodeDescriptor(Buffer.from(written, 'hex')), d);
});

test('malformed records fail with a DecodeError naming the record and the reason', () => {
  const hs = encodeHardState({ term: 1, vote: 2, commit: 3 });
  assert.throws(() => decodeHardState(hs.subarray(0, 2)), (e: unknown) => e instanceof DecodeError && /hard state: truncated/.test(e.message));
  assert.throws(() => decodeHardState(Buffer.concat([hs, Buffer.from([0])])), /hard state: 1 trailing bytes/);
  const future = Buffer.from(hs);
  future[0] = RECORD_VERSION + 1;
  assert.throws(() => decodeHardState(future), /record version 2 is unknown/);
  assert.throws(() => decodeHardState(new Uint8Array(0)), /hard state: empty/);
  const badType = encodeEntry({ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) });
  badType[1] = 7;
  assert.throws(() => decodeEntry(1, badType), /log entry: entry type 7 is unknown/);
  const badRole = encodeDescriptor(desc);
  badRole[badRole.length - 1] = 9;
  assert.throws(() => decodeDescriptor(badRole), /range descriptor: replica 13 has an unknown role 9/);
  assert.throws(() => decodeDescriptor(Buffer.from([RECORD_VERSION, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), /varint longer than 8 bytes/);
  assert.throws(() => encodeDescriptor({ ...desc, replicas: [{ storeId: 1, replicaId: 1, role: 42 as ReplicaRole }] }), RangeError);
  assert.throws(() => decodeSnapshotRef(encodeSnapshotRef({ rangeId: 1, index: 1, term: 1, stagingId: '../../etc' })), /not a plain name/);
});

test('snapshot chunks carry a checksum: a flipped bit is detected', () => {
  const b = new ChunkBuilder(3, 64);
  b.add(Buffer.from('k1'), Buffer.from('v1'));
  b.add(Buffer.from('k2'), Buffer.alloc(300, 7));
  const bytes = b.finish(true);
  const c = decodeSnapshotChunk(bytes);
  assert.equal(c.seq, 3);
  assert.equal(c.last, true);
  assert.equal(c.pairs.length, 2);
  assert.equal(Buffer.from(c.pairs[1]![1]).length, 300);
  for (const pos of [0, 5, 40, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[pos]! ^= 0x10;
    assert.throws(() => decodeSnapshotChunk(bad), /snapshot chunk: checksum mismatch/);
  }
});

test('write ops: encoded ops decode in order; a truncated buffer is refused', () => {
  const ops = new WriteOps(8).put(ColumnFamily.Raft, Buffer.from('a'), Buffer.from('1')).del(ColumnFamily.Meta, Buffer.from('b'));
  const seen: string[] = [];
  assert.equal(forEachOp(ops.bytes(), (kind, cf, key, value) => seen.push(`${kind} ${cf} ${key.toString()} ${value?.toString() ?? '-'}`)), 2);
  assert.deepEqual(seen, ['put 1 a 1', 'del 2 b -']);
  assert.throws(() => forEachOp(ops.bytes().subarray(0, 9), () => {}), DecodeError);
  const badCf = Buffer.from(ops.bytes());
  badCf[1] = 9;
  assert.throws(() => forEachOp(badCf, () => {}), /unknown column family 9/);
});
