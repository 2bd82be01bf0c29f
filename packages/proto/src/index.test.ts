import { test } from 'node:test';
import assert from 'node:assert/strict';
import { raftpb, metapb, kvpb, adminpb, kvService, storeAdminService, raftTransportService, WireDecodeError } from './index.js';

test('uint64 fields decode as JS numbers, up to 2^53 - 1', () => {
  const max = Number.MAX_SAFE_INTEGER;
  const bytes = raftpb.Entry.encode({ term: max, index: 2 ** 40 + 3, type: raftpb.EntryType.ENTRY_CONF_CHANGE, data: new Uint8Array([1, 2]) }).finish();
  const e = raftpb.Entry.decode(bytes);
  assert.equal(typeof e.term, 'number');
  assert.equal(e.term, max);
  assert.equal(e.index, 2 ** 40 + 3);
  assert.equal(e.type, raftpb.EntryType.ENTRY_CONF_CHANGE);
  assert.deepEqual([...e.data], [1, 2]);
});

test('absent fields decode to their defaults; absent optional context decodes to null', () => {
  const m = raftpb.Message.decode(raftpb.Message.encode({ type: raftpb.MessageType.MSG_HEARTBEAT }).finish());
  assert.equal(m.type, raftpb.MessageType.MSG_HEARTBEAT);
  assert.equal(m.term, 0);
  assert.equal(m.reject, false);
  assert.deepEqual(m.entries, []);
  assert.equal(m.snapshot, null);
  assert.equal(m.context, null);
});

test('an empty context is present on the wire and decodes as empty, not null', () => {
  const m = raftpb.Message.decode(raftpb.Message.encode({ type: raftpb.MessageType.MSG_HEARTBEAT, context: new Uint8Array(0) }).finish());
  assert.notEqual(m.context, null);
  assert.equal(m.context?.length, 0);
});

test('raft MessageType numbers match @rangekv/raft (same values on the wire)', () => {
  // Spelled out rather than imported: this package must not depend on raft.
  const raftNumbers: Record<string, number> = {
    MSG_VOTE: 1, MSG_VOTE_RESP: 2, MSG_PRE_VOTE: 3, MSG_PRE_VOTE_RESP: 4, MSG_APP: 5, MSG_APP_RESP: 6,
    MSG_HEARTBEAT: 7, MSG_HEARTBEAT_RESP: 8, MSG_SNAP: 9, MSG_TIMEOUT_NOW: 10, MSG_READ_INDEX: 11,
    MSG_READ_INDEX_RESP: 12, MSG_TRANSFER_LEADER: 13,
  };
  for (const [name, n] of Object.entries(raftNumbers)) {
    assert.equal((raftpb.MessageType as unknown as Record<string, number>)[name], n, name);
  }
});

test('a KV response carries a typed range error through the oneof', () => {
  const desc: metapb.RangeDescriptor.$Properties = {
    rangeId: 7, startKey: new Uint8Array([0x61]), endKey: new Uint8Array([0x6d]),
    epoch: { confVer: 3, version: 9 },
    replicas: [{ storeId: 1, replicaId: 11, role: metapb.ReplicaRole.VOTER }, { storeId: 4, replicaId: 12, role: metapb.ReplicaRole.LEARNER }],
  };
  const bytes = kvService.get.responseSerialize({ rangeError: { message: 'stale epoch', epochNotMatch: { current: [desc] } } });
  const res = kvService.get.responseDeserialize(bytes);
  const err = res.rangeError;
  assert.ok(err);
  assert.equal(err.message, 'stale epoch');
  assert.equal((err as metapb.RangeError).error, 'epochNotMatch');
  const cur = err.epochNotMatch?.current?.[0];
  assert.equal(cur?.rangeId, 7);
  assert.equal(cur?.epoch?.version, 9);
  assert.equal(cur?.replicas?.[1]?.role, metapb.ReplicaRole.LEARNER);
});

test('read consistency defaults to LINEARIZABLE when the header does not say', () => {
  const bytes = kvService.get.requestSerialize({ header: { rangeId: 3, epoch: { confVer: 1, version: 2 } }, key: new Uint8Array([1]) });
  const req = kvService.get.requestDeserialize(bytes);
  assert.equal(req.header?.readConsistency, metapb.ReadConsistency.LINEARIZABLE);
  assert.equal(req.header?.rangeId, 3);
});

test('a NotLeader error carries the leader hint', () => {
  const bytes = storeAdminService.splitRange.responseSerialize({
    rangeError: { notLeader: { rangeId: 5, leader: { storeId: 2, replicaId: 21, role: metapb.ReplicaRole.VOTER } } },
  });
  const res = storeAdminService.splitRange.responseDeserialize(bytes);
  assert.equal(res.rangeError?.notLeader?.leader?.storeId, 2);
  assert.equal(res.rangeError?.notLeader?.leader?.replicaId, 21);
});

test('service paths are the fully qualified proto names', () => {
  assert.equal(kvService.compareAndSwap.path, '/rangekv.kv.Kv/CompareAndSwap');
  assert.equal(storeAdminService.promoteLearner.path, '/rangekv.admin.StoreAdmin/PromoteLearner');
  assert.equal(raftTransportService.stream.path, '/rangekv.raft.RaftTransport/Stream');
  assert.equal(raftTransportService.stream.requestStream && raftTransportService.stream.responseStream, true);
  const scanReq = kvService.scan.requestDeserialize(kvService.scan.requestSerialize({ limit: 10, reverse: true }));
  assert.equal(scanReq.limit, 10);
  assert.equal(scanReq.reverse, true);
  const status = adminpb.RangeStatus.decode(adminpb.RangeStatus.encode({ role: adminpb.RaftRole.LEADER, applied: 42 }).finish());
  assert.equal(status.role, adminpb.RaftRole.LEADER);
  assert.equal(status.applied, 42);
  const cas = kvpb.CompareAndSwapRequest.decode(kvpb.CompareAndSwapRequest.encode({ expectExists: true, delete: true }).finish());
  assert.equal(cas.expectExists, true);
  assert.equal(cas.delete, true);
});

test('truncated bytes fail to decode with a WireDecodeError, not a crash', () => {
  const bytes = kvpb.PutRequest.encode({ key: new Uint8Array(10), value: new Uint8Array(100) }).finish();
  assert.throws(() => kvpb.PutRequest.decode(bytes.subarray(0, bytes.length - 5)), WireDecodeError);
});
