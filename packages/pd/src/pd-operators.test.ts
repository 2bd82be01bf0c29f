// One in-process PD (1 node) with four fake stores (real gRPC admin servers over a shared
// model): bootstrap, routing, every operator kind to SUCCEEDED, a timeout, a failure with
// its reason, one running operator per range.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { descriptorFromWire, pdpb, ReplicaRole } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { FakeCluster } from './testing/fake-stores.js';
import { PdCallError, PdTestClient } from './testing/pd-test-client.js';

const K = pdpb.OperatorKind;
const S = pdpb.OperatorStatus;
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

let dir: string;
let pd: PdServer;
let fake: FakeCluster;
let client: PdTestClient;
const addrs = new Map<number, string>();

async function heartbeat(storeId: number) {
  return client.call(pd.address, 'storeHeartbeat', {
    store: { id: storeId, address: addrs.get(storeId)!, raftAddress: `127.0.0.1:${9000 + storeId}` },
    stats: { ranges: 1, leaders: storeId === 1 ? 1 : 0 },
  });
}

async function create(req: pdpb.CreateOperatorRequest.$Properties) {
  const res = await client.call(pd.address, 'createOperator', { wait: true, ...req }, 30_000);
  assert.equal(res.header?.error, null);
  return res.operator!;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pd-ops-'));
  fake = new FakeCluster();
  for (const id of [1, 2, 3, 4]) addrs.set(id, await fake.startStore(id));
  pd = await PdServer.start({
    // The tests place leaders by hand (and assert where they are): no scheduler.
    pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20, leaderBalance: false,
    operatorLimits: { operatorTickMs: 20, retryActionMs: 200, rangeStatusTimeoutMs: 500 },
  });
  client = new PdTestClient([pd.address]);
});

after(async () => {
  client.close();
  await pd.stop();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('bootstrap: range 1 is committed once the initial stores heartbeat, and sent to exactly them', async () => {
  const first = await heartbeat(1);
  assert.equal(first.bootstrap, null, 'one store is not enough');
  const none = await client.call(pd.address, 'getRangeByKey', { key: b('a') });
  assert.equal(none.header?.error?.notBootstrapped, true);
  await heartbeat(2);
  const third = await heartbeat(3);
  const d = descriptorFromWire(third.bootstrap!.descriptor!);
  assert.deepEqual([d.rangeId, d.epoch.confVer, d.epoch.version, d.startKey.length, d.endKey.length], [1, 1, 1, 0, 0]);
  assert.deepEqual(d.replicas.map((r) => r.storeId), [1, 2, 3]);
  assert.ok(d.replicas.every((r) => r.replicaId > 0 && r.replicaId < 2 ** 32 && r.role === ReplicaRole.Voter));
  assert.equal(new Set(d.replicas.map((r) => r.replicaId)).size, 3);
  assert.ok(third.stores!.length === 3 && third.header!.clusterId! > 0);
  const again = await heartbeat(1);
  assert.deepEqual(descriptorFromWire(again.bootstrap!.descriptor!), d);
  const fourth = await heartbeat(4);
  assert.equal(fourth.bootstrap, null, 'store 4 is not an initial replica');
  fake.createRange(d, 1);
  // The leader reports range 1: routing shows the leader, and bootstrap is no longer sent
  // (a store that missed it gets its replica from the leader; a removed one cannot recreate it).
  await client.call(pd.address, 'rangeHeartbeat', { storeId: 1, ranges: [{ descriptor: third.bootstrap!.descriptor!, leader: d.replicas[0]!, term: 1 }] });
  const route = await client.call(pd.address, 'getRangeByKey', { key: b('anything') });
  assert.equal(route.route?.leader?.storeId, 1);
  assert.equal((await heartbeat(3)).bootstrap, null);
  const list = await client.call(pd.address, 'listStores', {});
  assert.deepEqual(list.stores!.map((s) => [s.store?.id, s.store?.state]), [[1, 0], [2, 0], [3, 0], [4, 0]]);
});

test('AllocIds / AllocStoreId: disjoint, below 2^32; bad counts refused', async () => {
  const a = await client.call(pd.address, 'allocIds', { count: 10 });
  const c = await client.call(pd.address, 'allocIds', { count: 5000 });
  assert.ok(c.first! >= a.first! + 10 && c.first! + 5000 < 2 ** 32);
  const s1 = await client.call(pd.address, 'allocStoreId', {});
  const s2 = await client.call(pd.address, 'allocStoreId', {});
  assert.ok(s2.storeId! > s1.storeId! && s1.storeId! > 0);
  await assert.rejects(client.call(pd.address, 'allocIds', { count: 0 }), (e: unknown) => e instanceof PdCallError && /count/.test(e.details));
});

test('TRANSFER_LEADER: transfers on the range leader and succeeds when the new leader reports', async () => {
  const op = await create({ kind: K.TRANSFER_LEADER, rangeId: 1, toStore: 2 });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  assert.equal(fake.ranges.get(1)!.leaderStore, 2);
  assert.ok(fake.callsOf('transferLeader').every((c) => c.storeId === 1));
});

test('SPLIT: cuts with a PD-allocated range id; routing finds both halves', async () => {
  const op = await create({ kind: K.SPLIT, rangeId: 1, splitKey: b('m') });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  const right = descriptorFromWire(op.right!);
  assert.equal(Buffer.from(op.descriptor!.endKey!).toString(), 'm');
  assert.ok(right.rangeId > 1 && right.rangeId < 2 ** 32);
  const split = fake.callsOf('splitRange')[0]!;
  assert.equal(split.storeId, 2, 'asked on the leader');
  assert.equal((await client.call(pd.address, 'getRangeByKey', { key: b('z') })).route?.descriptor?.rangeId, right.rangeId);
  assert.equal((await client.call(pd.address, 'getRangeByKey', { key: b('a') })).route?.descriptor?.rangeId, 1);
  const scan = await client.call(pd.address, 'scanRanges', { startKey: b(''), limit: 1 });
  assert.deepEqual([scan.routes!.map((r) => r.descriptor?.rangeId), scan.more], [[1], true]);
});

test('SPLIT: the right half\'s own leader is taken at its own terms, below the left\'s', async () => {
  // The right half is a new raft group whose terms start again: PD must not hold it to the
  // left's term, or its leader's reports (and size figures) are ignored as older.
  fake.ranges.get(1)!.term = 9;
  const op = await create({ kind: K.SPLIT, rangeId: 1, splitKey: b('f') });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  const right = descriptorFromWire(op.right!);
  const r = fake.ranges.get(right.rangeId)!;
  const next = right.replicas.find((x) => x.storeId !== r.leaderStore && x.role === ReplicaRole.Voter)!;
  r.leaderStore = next.storeId;
  r.term = 2;
  await client.call(pd.address, 'rangeHeartbeat', {
    storeId: next.storeId,
    ranges: [{ descriptor: op.right!, leader: { storeId: next.storeId, replicaId: next.replicaId }, term: 2, stats: { approximateBytes: 5_000, approximateKeys: 5 } }],
  });
  const route = (await client.call(pd.address, 'getRange', { rangeId: right.rangeId })).route!;
  assert.equal(route.leader?.storeId, next.storeId, 'the report of the right half\'s leader at term 2 is taken');
});

test('ADD_REPLICA: learner with a PD-allocated id, catch-up, then promote', async () => {
  const op = await create({ kind: K.ADD_REPLICA, rangeId: 1, toStore: 4 });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  const add = fake.callsOf('addReplica')[0]!.req as { role: number; replicaId: number; storeId: number };
  assert.deepEqual([add.role, add.storeId], [ReplicaRole.Learner, 4]);
  assert.ok(add.replicaId > 0 && add.replicaId < 2 ** 32);
  assert.equal(fake.callsOf('promoteLearner').length, 1);
  const d = descriptorFromWire(op.descriptor!);
  assert.ok(d.replicas.some((r) => r.storeId === 4 && r.role === ReplicaRole.Voter && r.replicaId === add.replicaId));
});

test('REMOVE_REPLICA of the leader\'s store: leadership moves away first, then the replica goes', async () => {
  assert.equal(fake.ranges.get(1)!.leaderStore, 2);
  const op = await create({ kind: K.REMOVE_REPLICA, rangeId: 1, fromStore: 2 });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  assert.notEqual(fake.ranges.get(1)!.leaderStore, 2);
  assert.ok(!fake.ranges.get(1)!.desc.replicas.some((r) => r.storeId === 2));
  const remove = fake.callsOf('removeReplica').at(-1)!;
  assert.notEqual(remove.storeId, 2, 'asked on the new leader');
});

test('MOVE_REPLICA: a learner on the destination, caught up, then one joint change swaps it for the source\'s voter', async () => {
  const right = (await client.call(pd.address, 'getRangeByKey', { key: b('z') })).route!.descriptor!;
  const joint = fake.replaceVoterCalls;
  const promotes = fake.callsOf('promoteLearner').length;
  const op = await create({ kind: K.MOVE_REPLICA, rangeId: right.rangeId, fromStore: 3, toStore: 4 });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  const d = descriptorFromWire(op.descriptor!);
  assert.deepEqual(d.replicas.map((r) => r.storeId).sort(), [1, 2, 4]);
  assert.ok(d.replicas.every((r) => r.role === ReplicaRole.Voter));
  assert.equal(fake.replaceVoterCalls, joint + 1, 'one ReplaceVoter');
  assert.equal(fake.callsOf('promoteLearner').length, promotes, 'no separate promote');
  const replace = fake.callsOf('replaceVoter').at(-1)!.req as { learnerStore: number; voterStore: number };
  assert.deepEqual([replace.learnerStore, replace.voterStore], [4, 3]);
  // PD's routing table has the new descriptor.
  const now = (await client.call(pd.address, 'getRangeByKey', { key: b('z') })).route!.descriptor!;
  assert.equal(now.epoch?.confVer, d.epoch.confVer);
});

test('an operator times out with TIMED_OUT and the step it was at', async () => {
  fake.ignoreTransfers = true;
  try {
    const op = await create({ kind: K.TRANSFER_LEADER, rangeId: 1, toStore: 4, timeoutMs: 400 });
    assert.equal(op.status, S.TIMED_OUT);
    assert.match(op.reason ?? "", /timed out after 400 ms at step: transferring leadership/);
  } finally {
    fake.ignoreTransfers = false;
  }
});

test('a timed-out operator names the last error the store answered', async () => {
  fake.failTransfers = 'transfer refused for the test';
  try {
    const op = await create({ kind: K.TRANSFER_LEADER, rangeId: 1, toStore: 4, timeoutMs: 400 });
    assert.equal(op.status, S.TIMED_OUT);
    assert.match(op.reason ?? '', /last error: TransferLeader on 127\.0\.0\.1:\d+: FAILED_PRECONDITION: transfer refused for the test/);
  } finally {
    fake.failTransfers = null;
  }
});

test('ADD_REPLICA waits for the learner to catch up before promoting', async () => {
  fake.learnersNeverCatchUp = true;
  try {
    const promotes = fake.callsOf('promoteLearner').length;
    const op = await create({ kind: K.ADD_REPLICA, rangeId: 1, toStore: 2, timeoutMs: 500 });
    assert.equal(op.status, S.TIMED_OUT);
    assert.match(op.reason ?? '', /waiting for learner \d+ on store 2 to catch up/);
    assert.equal(fake.callsOf('promoteLearner').length, promotes, 'never promoted');
  } finally {
    fake.learnersNeverCatchUp = false;
  }
});

test('ADD_REPLICA does not promote a learner the leader never reached, even in a range with a short log', async () => {
  // Within catchUpSlackEntries of a 5-entry log, but match 0: the store would refuse the promote.
  const found = [...fake.ranges.values()].flatMap((x) => [1, 2, 3, 4].filter((id) => !x.desc.replicas.some((y) => y.storeId === id)).map((id) => ({ r: x, to: id })));
  assert.ok(found.length > 0, 'a range without a replica on some store');
  const { r, to } = found[0]!;
  fake.learnersNeverCatchUp = true;
  const lastIndex = r.lastIndex;
  r.lastIndex = 5;
  try {
    const promotes = fake.callsOf('promoteLearner').length;
    const op = await create({ kind: K.ADD_REPLICA, rangeId: r.desc.rangeId, toStore: to, timeoutMs: 500 });
    assert.equal(op.status, S.TIMED_OUT);
    assert.match(op.reason ?? '', new RegExp(`waiting for learner \\d+ on store ${to} to catch up`));
    assert.equal(fake.callsOf('promoteLearner').length, promotes, 'never promoted');
  } finally {
    fake.learnersNeverCatchUp = false;
    r.lastIndex = Math.max(r.lastIndex, lastIndex);
  }
});

test('an operator the store refuses ends FAILED with the reason', async () => {
  fake.refuseSplitKeys.add('c');
  const op = await create({ kind: K.SPLIT, rangeId: 1, splitKey: b('c') });
  assert.equal(op.status, S.FAILED);
  assert.match(op.reason ?? "", /key not in range/);
});

test('one running operator per range; bad requests are refused; list and get', async () => {
  fake.ignoreTransfers = true;
  try {
    const first = await client.call(pd.address, 'createOperator', { kind: K.TRANSFER_LEADER, rangeId: 1, toStore: 4, timeoutMs: 2000 });
    assert.ok(first.operator);
    assert.equal(first.operator?.status, S.RUNNING);
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.SPLIT, rangeId: 1, splitKey: b('d') }),
      (e: unknown) => e instanceof PdCallError && /already has running operator/.test(e.details));
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.SPLIT, rangeId: 1, splitKey: b('d'), toStore: 3 }),
      (e: unknown) => e instanceof PdCallError && /to_store must be unset/.test(e.details));
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.ADD_REPLICA, rangeId: 1, toStore: 77 }),
      (e: unknown) => e instanceof PdCallError && /store 77 is unknown/.test(e.details));
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.TRANSFER_LEADER, rangeId: 999, toStore: 1 }),
      (e: unknown) => e instanceof PdCallError && /range 999 is unknown/.test(e.details));
    const list = await client.call(pd.address, 'listOperators', {});
    assert.equal(list.operators![0]?.id, first.operator?.id, 'running first');
    assert.ok(list.operators!.length >= 8);
    const got = await client.call(pd.address, 'getOperator', { id: first.operator!.id });
    assert.equal(got.operator?.kind, K.TRANSFER_LEADER);
  } finally {
    fake.ignoreTransfers = false;
  }
});
