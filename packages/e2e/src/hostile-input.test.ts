// Hostile input against real processes (1 PD, 4 stores): each of the nine findings of the
// hostile-input issue sent as a hostile client would, then the cluster shown serving with
// every key written before still there. The inputs are built by hand (hostile-wire.ts):
// raw bytes the generated encoders would never produce, and raft batches that claim to
// come from a real store.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RangeKvClient } from '@rangekv/client';
import { adminpb, kvService, pdService, storeAdminService } from '@rangekv/proto';
import { EntryType, MessageType } from '@rangekv/raft';
import { E2eCluster, eventually, unary } from './cluster.js';
import { Pb, rawUnary, sendRaftBatch, silentSnapshotCall } from './hostile-wire.js';
import { WrittenKeys, leaderAndFollower as leaderAndFollowerOf, message, rangeStatus as rangeStatusOf } from './range-views.js';

let c: E2eCluster;
let kv: RangeKvClient;
const keys = new WrittenKeys(() => kv, 5);
const writeSome = (tag: string): Promise<void> => keys.writeSome(tag);

/** Every process still runs and every key written so far reads back (linearizable). */
async function servingWithDataIntact(): Promise<void> {
  for (const [id, s] of c.stores) if (s.running) assert.equal(s.proc.exitCode, null, `store ${id} is up`);
  for (const p of c.pds) assert.equal(p.proc.exitCode, null, 'PD is up');
  await keys.checkAll();
}

const rangeStatus = (storeId: number, rangeId: number): Promise<adminpb.RangeStatus | null> => rangeStatusOf(c, storeId, rangeId);
const leaderAndFollower = (rangeId: number): ReturnType<typeof leaderAndFollowerOf> => leaderAndFollowerOf(c, rangeId);

async function metric(storeId: number, name: string): Promise<number> {
  const s = c.stores.get(storeId)!;
  const res = await fetch(`http://127.0.0.1:${String(s.httpPort)}/metrics`);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await res.text());
  return m ? Number(m[1]) : NaN;
}

before(async () => {
  c = await E2eCluster.start({ stores: 4, initialStores: 3, storeArgs: ['--uninitialized-idle-ms', '2000', '--uninitialized-gc-after-ms', '3000'] });
  kv = await RangeKvClient.connect({ pd: c.pdAddresses() });
  await writeSome('start');
  await kv.split('m', { timeoutMs: 30_000 });
  await writeSome('split');
});

after(async () => {
  kv?.close();
  await c?.close();
});

test('1. PD refuses ids of 2^53 and 2^63 at the edge; nothing reaches its log, and it restarts', async () => {
  const pd = c.pds[0]!.address;
  // StoreHeartbeat{store{id: 2^53, address: "127.0.0.1:1"}}, the 37 bytes.
  const storeHb = Buffer.from('0a23088080808080808010120b3132372e302e302e313a311a0b3132372e302e302e313a31', 'hex');
  const a = await rawUnary(pd, pdService.storeHeartbeat.path, storeHb);
  assert.equal(a.code, grpc.status.INVALID_ARGUMENT, a.details);
  // RangeHeartbeat{store_id 1, ranges[{descriptor{range_id 2^63}}]}.
  const rangeHb = new Pb().uint(1, 1).msg(2, new Pb().msg(1, new Pb().uint(1, 2n ** 63n))).finish();
  const b = await rawUnary(pd, pdService.rangeHeartbeat.path, rangeHb);
  assert.equal(b.code, grpc.status.INVALID_ARGUMENT, b.details);
  await c.restartPd(0);
  await eventually('PD serves after a restart', async () => (await unary(c.pds[0]!.address, pdService.listStores, {}).catch(() => null))?.stores?.length === 4);
  await servingWithDataIntact();
});

test('2. a Heartbeat with term 2^53-1 to a leader is refused alone: its range and the ranges beside it keep their leaders', async () => {
  const { leader, follower } = await leaderAndFollower(1);
  const desc = leader.status.descriptor!;
  const from = desc.replicas!.find((r) => r.storeId === follower.storeId)!;
  const hb = message({ type: MessageType.Heartbeat, to: Number(leader.status.replicaId), from: Number(from.replicaId), term: 2 ** 53 - 1 });
  const ok = message({ type: MessageType.HeartbeatResp, to: Number(leader.status.replicaId), from: Number(from.replicaId), term: Number(leader.status.term) });
  await sendRaftBatch(c.stores.get(leader.storeId)!.raftAddress, follower.storeId, leader.storeId, [{ rangeId: 1, message: hb }, { rangeId: 1, message: ok }]);
  const after = await rangeStatus(leader.storeId, 1);
  assert.equal(after?.role, adminpb.RaftRole.LEADER, 'the leader still leads');
  assert.equal(Number(after?.term), Number(leader.status.term), 'its term did not move');
  await servingWithDataIntact();
});

test('3. a TimeoutNow with term 2^53-1 is refused: the store stays up', async () => {
  const { leader, follower } = await leaderAndFollower(1);
  const desc = follower.status.descriptor!;
  const from = desc.replicas!.find((r) => r.storeId === leader.storeId)!;
  const tn = message({ type: MessageType.TimeoutNow, to: Number(follower.status.replicaId), from: Number(from.replicaId), term: 2 ** 53 - 1 });
  await sendRaftBatch(c.stores.get(follower.storeId)!.raftAddress, leader.storeId, follower.storeId, [{ rangeId: 1, message: tn }]);
  const st = await rangeStatus(follower.storeId, 1);
  assert.ok(st !== null && Number(st.term) < 2 ** 52, 'the follower runs, its term untouched');
  await servingWithDataIntact();
});

test('4. an App whose entry does not decode fails that replica only; the range serves, the store survives a restart', async () => {
  const { leader, follower } = await leaderAndFollower(1);
  const st = follower.status;
  const from = st.descriptor!.replicas!.find((r) => r.storeId === leader.storeId)!;
  const last = Number(st.lastIndex);
  const term = Number(st.term);
  const app = message({
    type: MessageType.App, to: Number(st.replicaId), from: Number(from.replicaId), term, logTerm: term, index: last,
    entries: [{ term, index: last + 1, type: EntryType.Normal, data: new Uint8Array([0x01, 0x63, 0x00]) }], commit: last + 1,
  });
  await sendRaftBatch(c.stores.get(follower.storeId)!.raftAddress, leader.storeId, follower.storeId, [{ rangeId: 1, message: app }]);
  await eventually('the follower failed its replica of range 1', async () => (await metric(follower.storeId, 'rangekv_failed_replicas')) === 1, 20_000);
  await servingWithDataIntact();
  await c.killStore(follower.storeId);
  await c.startStore(follower.storeId);
  await eventually('after a restart the replica fails again, the store stays up', async () => (await metric(follower.storeId, 'rangekv_failed_replicas')) === 1, 30_000);
  await servingWithDataIntact();
});

test('5. AddReplica naming a store that does not exist is refused, three times over; the range keeps its leader', async () => {
  const right = (await kv.listRanges({ timeoutMs: 20_000 })).find((r) => Buffer.from(r.startKey).toString() === 'm')!;
  const { leader } = await leaderAndFollower(right.rangeId);
  const d = leader.status.descriptor!;
  for (let i = 0; i < 3; i++) {
    const res = await unary(c.stores.get(leader.storeId)!.kvAddress, storeAdminService.addReplica, {
      header: { rangeId: Number(d.rangeId), epoch: d.epoch! }, storeId: 2 ** 32, role: 0,
    }).then(() => null, (e: grpc.ServiceError) => e);
    assert.equal(res?.code, grpc.status.FAILED_PRECONDITION, res?.details ?? 'accepted');
  }
  assert.equal((await rangeStatus(leader.storeId, Number(d.rangeId)))?.role, adminpb.RaftRole.LEADER);
  await servingWithDataIntact();
});

test('6+7. a flood of heartbeats for made-up ranges and two silent snapshot calls do not stop a real replica from being added', async () => {
  const target = 4;
  const t = c.stores.get(target)!;
  const { leader } = await leaderAndFollower(1);
  // 1,100 heartbeats for unknown ranges, claiming to come from every other store.
  for (const from of [1, 2, 3]) {
    const msgs = Array.from({ length: 1_100 }, (_, i) => ({ rangeId: 10_000_000 + from * 10_000 + i, message: message({ type: MessageType.Heartbeat, from: 1, to: 2, term: 5 }) }));
    await sendRaftBatch(t.raftAddress, from, target, msgs);
  }
  const live = await metric(target, 'rangekv_uninitialized_replicas');
  assert.ok(live <= 3 * 256, `bounded per peer: ${live} live`);
  const silent = [silentSnapshotCall(t.raftAddress), silentSnapshotCall(t.raftAddress)];
  try {
    const op = await kv.addReplica(1, target, { timeoutMs: 120_000 });
    assert.equal(op.status, 'succeeded', `${op.step} ${op.reason}`);
  } finally {
    for (const s of silent) s.close();
  }
  await eventually('the made-up replicas went dormant, then were destroyed (PD knows no such ranges)', async () =>
    (await metric(target, 'rangekv_uninitialized_replicas')) === 0 && (await metric(target, 'rangekv_dormant_replicas')) === 0, 60_000);
  assert.ok(leader.storeId > 0);
  await servingWithDataIntact();
});

test('8. PD takes store and range reports only from the store itself, consistent with what it knows', async () => {
  const pd = c.pds[0]!.address;
  const before = await unary(pd, pdService.getStore, { storeId: 1 });
  // A made-up range claiming the whole keyspace, reported "by" store 1 without its token.
  const forged = await rawUnary(pd, pdService.rangeHeartbeat.path, pdService.rangeHeartbeat.requestSerialize({
    storeId: 1, storeToken: 'x'.repeat(32),
    ranges: [{ descriptor: { rangeId: 999_999, epoch: { confVer: 1, version: 1_000 }, replicas: [{ storeId: 1, replicaId: 1 }] }, leader: { storeId: 1, replicaId: 1 }, term: 1 }],
  }));
  assert.equal(forged.code, grpc.status.PERMISSION_DENIED, forged.details);
  // StoreHeartbeat from someone else rewriting store 1's raft address.
  const moved = await rawUnary(pd, pdService.storeHeartbeat.path, pdService.storeHeartbeat.requestSerialize({
    store: { id: 1, address: '127.0.0.1:1', raftAddress: '127.0.0.1:2' }, storeToken: 'y'.repeat(32),
  }));
  assert.equal(moved.code, grpc.status.PERMISSION_DENIED, moved.details);
  const afterStore = await unary(pd, pdService.getStore, { storeId: 1 });
  assert.deepEqual([afterStore.store?.address, afterStore.store?.raftAddress], [before.store?.address, before.store?.raftAddress]);
  const route = await unary(pd, pdService.getRangeByKey, { key: Buffer.from('a') });
  assert.notEqual(Number(route.route?.descriptor?.rangeId), 999_999);
  await servingWithDataIntact();
});

test('9. a uint32 or enum field with a value it cannot hold is refused, not truncated', async () => {
  const { leader } = await leaderAndFollower(1);
  const d = leader.status.descriptor!;
  const header = new Pb().uint(1, Number(d.rangeId)).msg(2, new Pb().uint(1, Number(d.epoch!.confVer)).uint(2, Number(d.epoch!.version))).uint(3, 2n ** 32n);
  const get = new Pb().msg(1, header).bytes(2, 'start-0').finish();
  const a = await rawUnary(c.stores.get(leader.storeId)!.kvAddress, kvService.get.path, get);
  assert.equal(a.code, grpc.status.INVALID_ARGUMENT, a.details);
  // Scan's uint32 limit of 2^32 + 1 (would truncate to 1).
  const scan = new Pb().msg(1, new Pb().uint(1, Number(d.rangeId)).msg(2, new Pb().uint(1, Number(d.epoch!.confVer)).uint(2, Number(d.epoch!.version)))).uint(4, 2n ** 32n + 1n).finish();
  const b = await rawUnary(c.stores.get(leader.storeId)!.kvAddress, kvService.scan.path, scan);
  assert.equal(b.code, grpc.status.INVALID_ARGUMENT, b.details);
  await servingWithDataIntact();
});
