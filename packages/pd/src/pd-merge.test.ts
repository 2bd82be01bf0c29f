// The MERGE operator on one in-process PD with four fake stores (real gRPC admin servers
// over a shared model, MergeRanges as proto/admin.proto describes it): a co-located pair
// merges at once; a right range on other stores is moved onto the left range's stores and
// its leadership handed to the left leader's store first; busy answers are retried; a
// merge the store keeps refusing times out naming the store's reason; PD's routing forgets
// the right range and refuses its stale reports; the refusals at creation.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { descriptorFromWire, descriptorToWire, pdpb, ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer } from './pd-server.js';
import { FakeCluster } from './testing/fake-stores.js';
import { PdCallError, PdTestClient } from './testing/pd-test-client.js';

const K = pdpb.OperatorKind;
const S = pdpb.OperatorStatus;
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const text = (k: Uint8Array | null | undefined): string => Buffer.from(k ?? new Uint8Array(0)).toString();

let dir: string;
let pd: PdServer;
let fake: FakeCluster;
let client: PdTestClient;
/** Range ids by start key: '' (range 1), then the ones SPLIT made. */
const ids = new Map<string, number>();

async function create(req: pdpb.CreateOperatorRequest.$Properties): Promise<pdpb.IOperator> {
  const res = await client.call(pd.address, 'createOperator', { wait: true, ...req }, 30_000);
  assert.equal(res.header?.error, null);
  return res.operator!;
}

const refused = (code: grpc.status, re: RegExp) => (e: unknown): boolean => e instanceof PdCallError && e.code === code && re.test(e.details);

/** The range's leader reports it as the fake model has it (or as `desc` says). */
async function report(rangeId: number, desc?: RangeDescriptor) {
  const r = fake.ranges.get(rangeId);
  const d = desc ?? r!.desc;
  const leaderStore = r?.leaderStore ?? 1;
  const leader = d.replicas.find((x) => x.storeId === leaderStore)!;
  return client.call(pd.address, 'rangeHeartbeat', { storeId: leaderStore, ranges: [{ descriptor: descriptorToWire(d), leader, term: r?.term ?? 1 }] });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pd-merge-'));
  fake = new FakeCluster();
  const addrs = new Map<number, string>();
  for (const id of [1, 2, 3, 4]) addrs.set(id, await fake.startStore(id));
  pd = await PdServer.start({
    pdId: 1, dataDir: dir, initialStores: 3, log: silentLogger, tickMs: 20,
    // The tests place leaders and replicas by hand: no scheduler.
    leaderBalance: false, replicaChecker: false, replicaBalance: false, splitChecker: false, hotBalance: false, mergeChecker: false,
    operatorLimits: { operatorTickMs: 20, retryActionMs: 100, rangeStatusTimeoutMs: 500 },
  });
  client = new PdTestClient([pd.address]);
  let boot: pdpb.IBootstrapRange | null | undefined;
  for (const id of [1, 2, 3, 4]) {
    const res = await client.call(pd.address, 'storeHeartbeat', { store: { id, address: addrs.get(id)!, raftAddress: `127.0.0.1:${9000 + id}` } });
    boot ??= res.bootstrap;
  }
  fake.createRange(descriptorFromWire(boot!.descriptor!), 1);
  await report(1);
  // Ranges: [, c) [c, f) [f, j) [j, p) [p, u) [u, ), all on stores 1-3, led by store 1.
  ids.set('', 1);
  for (const k of ['u', 'p', 'j', 'f', 'c']) {
    const op = await create({ kind: K.SPLIT, rangeId: 1, splitKey: b(k) });
    assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
    ids.set(k, op.right!.rangeId!);
  }
});

after(async () => {
  client.close();
  await pd.stop();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('MERGE of two ranges on the same stores, led by one store: MergeRanges on it; PD routes the right range\'s keys to the merged one', async () => {
  const right = fake.ranges.get(ids.get('c')!)!.desc;
  const left = fake.ranges.get(1)!.desc;
  const op = await create({ kind: K.MERGE, rangeId: 1 });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  const merged = descriptorFromWire(op.descriptor!);
  assert.deepEqual([merged.rangeId, text(merged.startKey), text(merged.endKey)], [1, '', 'f']);
  assert.equal(merged.epoch.version, Math.max(left.epoch.version, right.epoch.version) + 1);
  assert.deepEqual(descriptorFromWire(op.right!), right, 'the right range as it was');
  const call = fake.callsOf('mergeRanges').at(-1)!;
  const req = call.req as { rightRangeId: number; rightEpoch: { version: number } };
  assert.deepEqual([call.storeId, req.rightRangeId, req.rightEpoch.version], [1, right.rangeId, right.epoch.version]);
  assert.equal((await client.call(pd.address, 'getRangeByKey', { key: b('d') })).route?.descriptor?.rangeId, 1);
  await assert.rejects(client.call(pd.address, 'getRange', { rangeId: right.rangeId }), refused(grpc.status.NOT_FOUND, /unknown to PD/));
  const scan = await client.call(pd.address, 'scanRanges', { startKey: b(''), endKey: b('g') });
  assert.deepEqual(scan.routes!.map((r) => r.descriptor?.rangeId), [1, ids.get('f')]);
  assert.equal(pd.group.state.ranges.has(right.rangeId), false, 'the right range\'s record is dropped');
});

test('after a merge: a stale report of the right range is refused; the widened left range\'s report is taken', async () => {
  const gone = ids.get('c')!;
  const stale: RangeDescriptor = {
    rangeId: gone, startKey: b('c'), endKey: b('f'), epoch: { confVer: 1, version: 2 },
    replicas: fake.ranges.get(1)!.desc.replicas.map((x) => ({ ...x, replicaId: x.replicaId + 1000 })),
  };
  const res = await report(gone, stale);
  assert.deepEqual(res.rejected?.map((x) => x.rangeId), [gone]);
  assert.match(res.rejected![0]!.reason ?? '', /overlaps range 1 of a version as new or newer/);
  assert.deepEqual((await report(1)).rejected, []);
  assert.equal((await client.call(pd.address, 'getRangeByKey', { key: b('e') })).route?.descriptor?.rangeId, 1);
});

test('MERGE of a right range on other stores: its replica moves to the left range\'s store, its leadership to the left leader\'s store, then the merge', async () => {
  const rightId = ids.get('f')!;
  const moved = await create({ kind: K.MOVE_REPLICA, rangeId: rightId, fromStore: 3, toStore: 4 });
  assert.equal(moved.status, S.SUCCEEDED, moved.reason ?? '');
  const led = await create({ kind: K.TRANSFER_LEADER, rangeId: rightId, toStore: 2 });
  assert.equal(led.status, S.SUCCEEDED, led.reason ?? '');
  const replaces = fake.callsOf('replaceVoter').length;
  const op = await create({ kind: K.MERGE, rangeId: 1 });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  assert.deepEqual(descriptorFromWire(op.right!).replicas.map((r) => r.storeId).sort(), [1, 2, 4], 'right as it was at creation');
  const swap = fake.callsOf('replaceVoter').slice(replaces);
  assert.deepEqual(swap.map((c) => {
    const r = c.req as { header: { rangeId: number }; learnerStore: number; voterStore: number };
    return [r.header.rangeId, r.learnerStore, r.voterStore];
  }), [[rightId, 3, 4]], 'one joint move of the right range: store 4 -> store 3');
  const add = fake.callsOf('addReplica').at(-1)!.req as { replicaId: number };
  assert.ok(add.replicaId > op.id! && add.replicaId <= op.id! + 3, 'the learner has one of the ids allocated with the operator');
  const transfer = fake.callsOf('transferLeader').at(-1)!;
  assert.deepEqual([(transfer.req as { header: { rangeId: number }; toStore: number }).header.rangeId, (transfer.req as { toStore: number }).toStore], [rightId, 1]);
  const merged = descriptorFromWire(op.descriptor!);
  assert.deepEqual([text(merged.startKey), text(merged.endKey)], ['', 'j']);
  assert.deepEqual(merged.replicas.map((r) => r.storeId).sort(), [1, 2, 3]);
  assert.equal(fake.ranges.has(rightId), false);
});

test('MERGE retries a busy store and succeeds', async () => {
  fake.mergeBusyTimes = 2;
  const calls = fake.callsOf('mergeRanges').length;
  const op = await create({ kind: K.MERGE, rangeId: ids.get('j')! });
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  assert.equal(fake.callsOf('mergeRanges').length - calls, 3, 'two busy answers, then the merge');
  assert.deepEqual([text(op.descriptor!.startKey), text(op.descriptor!.endKey)], ['j', 'u']);
});

test('a merge the store keeps refusing times out with its reason; meanwhile both ranges refuse other operators, a merge too', async () => {
  fake.failMerges = 'merge rolled back for the test';
  try {
    const left = ids.get('j')!;
    const right = ids.get('u')!;
    const started = await client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: left, timeoutMs: 800 });
    const id = started.operator!.id!;
    assert.equal(started.operator?.right?.rangeId, right);
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.TRANSFER_LEADER, rangeId: right, toStore: 2 }),
      refused(grpc.status.FAILED_PRECONDITION, new RegExp(`range ${right} already has running operator ${id}`)));
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.SPLIT, rangeId: left, splitKey: b('k') }),
      refused(grpc.status.FAILED_PRECONDITION, new RegExp(`range ${left} already has running operator ${id}`)));
    await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: 1 }),
      refused(grpc.status.FAILED_PRECONDITION, new RegExp(`range ${left} already has running operator ${id}`)), 'nor may it be merged into its left neighbour');
    let final: pdpb.IOperator | null | undefined;
    for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
      final = (await client.call(pd.address, 'getOperator', { id })).operator;
      if (final?.status !== S.RUNNING) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(final?.status, S.TIMED_OUT);
    assert.match(final?.reason ?? '', /at step: merging range \d+ into range \d+ on store 1 \(last error: MergeRanges on .*merge rolled back for the test\)/);
  } finally {
    fake.failMerges = null;
  }
});

test('MERGE is refused: the last range, a learner, voter counts that differ, unknown ranges, stray fields', async () => {
  const last = ids.get('u')!;
  const left = ids.get('j')!;
  await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: last }),
    refused(grpc.status.INVALID_ARGUMENT, /ends at the end of the keyspace/));
  await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: left, toStore: 2 }),
    refused(grpc.status.INVALID_ARGUMENT, /MERGE: to_store must be unset/));
  await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: 4242 }),
    refused(grpc.status.NOT_FOUND, /range 4242 is unknown/));
  // A learner left behind on the right range by an ADD_REPLICA that timed out.
  fake.learnersNeverCatchUp = true;
  try {
    const add = await create({ kind: K.ADD_REPLICA, rangeId: last, toStore: 4, timeoutMs: 300 });
    assert.equal(add.status, S.TIMED_OUT);
  } finally {
    fake.learnersNeverCatchUp = false;
  }
  await report(last);
  await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: left }),
    refused(grpc.status.FAILED_PRECONDITION, new RegExp(`range ${last} has a learner: a merge needs voters only`)));
  const removed = await create({ kind: K.REMOVE_REPLICA, rangeId: last, fromStore: 4 });
  assert.equal(removed.status, S.SUCCEEDED, removed.reason ?? '');
  const added = await create({ kind: K.ADD_REPLICA, rangeId: last, toStore: 4 });
  assert.equal(added.status, S.SUCCEEDED, added.reason ?? '');
  await assert.rejects(client.call(pd.address, 'createOperator', { kind: K.MERGE, rangeId: left }),
    refused(grpc.status.FAILED_PRECONDITION, new RegExp(`range ${left} has 3 voters and range ${last} has 4`)));
  assert.ok(fake.ranges.get(last)!.desc.replicas.every((r) => r.role === ReplicaRole.Voter));
});
