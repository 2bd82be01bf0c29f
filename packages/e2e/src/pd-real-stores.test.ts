// PD's operators against REAL stores (four StoreServers in one process, their real admin
// service): PD bootstraps range 1, the test creates it on the three initial stores from
// PD's descriptor (what store-main does when told `bootstrap`), reports it as the leader
// would, then drives transfer, split, add (learner -> snapshot catch-up -> promote), move
// and remove through PD, and checks the stores' own descriptors and that data written
// before is readable after.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { descriptorFromWire, descriptorToWire, metapb, pdpb, ReplicaRole, type RangeDescriptor } from '@rangekv/proto';
import { StorageEngine } from '@rangekv/storage';
import { silentLogger } from '@rangekv/runtime';
import { StoreServer } from '@rangekv/store';
import { PdServer } from '@rangekv/pd';
import { PdTestClient } from '@rangekv/pd/testing/pd-test-client';

const K = pdpb.OperatorKind;
const S = pdpb.OperatorStatus;
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let root: string;
let pd: PdServer;
let client: PdTestClient;
const stores = new Map<number, StoreServer>();
/** Created -> finished per operator (a figure, never asserted). */
const durations: string[] = [];

async function heartbeatAll(): Promise<void> {
  for (const [id, s] of stores) {
    await client.call(pd.address, 'storeHeartbeat', { store: { id, address: `127.0.0.1:${s.kvPort}`, raftAddress: `127.0.0.1:${s.raftPort}` } });
  }
}

/** What a store does for the ranges it leads: one RangeHeartbeat with their descriptors. */
async function reportLeaders(): Promise<void> {
  for (const [id, s] of stores) {
    const ranges = s.status().filter((r) => r.isLeader && r.descriptor).map((r) => ({
      descriptor: descriptorToWire(r.descriptor!),
      leader: { storeId: id, replicaId: r.replicaId }, term: r.term,
    }));
    if (ranges.length > 0) await client.call(pd.address, 'rangeHeartbeat', { storeId: id, ranges });
  }
}

async function leaderOf(rangeId: number): Promise<StoreServer> {
  for (let i = 0; i < 500; i++) {
    for (const s of stores.values()) if (s.status().some((r) => r.rangeId === rangeId && r.isLeader)) return s;
    await sleep(20);
  }
  throw new Error(`no leader for range ${rangeId}`);
}

async function operator(req: pdpb.CreateOperatorRequest.$Properties): Promise<pdpb.Operator.$Properties> {
  const res = await client.call(pd.address, 'createOperator', { ...req, wait: true, timeoutMs: 20_000 }, 30_000);
  const op = res.operator!;
  assert.equal(op.status, S.SUCCEEDED, `${pdpb.OperatorKind[req.kind ?? 0]}: ${op.reason ?? ''} (step: ${op.step ?? ''})`);
  durations.push(`${pdpb.OperatorKind[req.kind ?? 0]} ${Number(op.finishedAtMs) - Number(op.createdAtMs)} ms`);
  return op;
}

function descOn(storeId: number, rangeId: number): RangeDescriptor | null {
  return stores.get(storeId)!.status().find((r) => r.rangeId === rangeId)?.descriptor ?? null;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'pd-real-'));
  pd = await PdServer.start({
    // Leaders are placed by the test's operators and asserted: no scheduler.
    pdId: 1, dataDir: join(root, 'pd'), initialStores: 3, log: silentLogger, tickMs: 20, leaderBalance: false,
    operatorLimits: { operatorTickMs: 50, retryActionMs: 500 },
  });
  client = new PdTestClient([pd.address]);
  // Store ids from PD, placeholder addresses until the stores run.
  const ids: number[] = [];
  for (let i = 0; i < 4; i++) ids.push((await client.call(pd.address, 'allocStoreId', {})).storeId!);
  assert.deepEqual(ids, [1, 2, 3, 4]);
  let boot: RangeDescriptor | null = null;
  for (const id of ids) {
    const res = await client.call(pd.address, 'storeHeartbeat', { store: { id, address: `127.0.0.1:${id}` } });
    if (res.bootstrap) boot = descriptorFromWire(res.bootstrap.descriptor!);
  }
  assert.ok(boot);
  for (const r of boot.replicas) {
    const engine = await StorageEngine.open(join(root, `s${r.storeId}`));
    try {
      const voters = boot.replicas.map((x) => x.replicaId);
      await engine.createRange({ descriptor: boot, confState: { voters, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } });
    } finally {
      await engine.close();
    }
  }
  for (const id of ids) {
    stores.set(id, await StoreServer.start({
      storeId: id, dataDir: join(root, `s${id}`), tickMs: 20, httpPort: null, applyWorkers: 0, log: silentLogger,
    }));
  }
  for (const [id, s] of stores) for (const [other, o] of stores) if (other !== id) s.setPeer(other, `127.0.0.1:${o.raftPort}`);
  await heartbeatAll();
  await leaderOf(1);
  await reportLeaders();
});

after(async () => {
  client.close();
  for (const s of stores.values()) await s.stop({ transferLeaders: false });
  await pd.stop();
  rmSync(root, { recursive: true, force: true });
});

test('operators drive real stores: transfer, split, add (learner, catch-up, promote), move, remove', async (t) => {
  const h = (rangeId: number, d: RangeDescriptor) => ({ rangeId, epoch: { confVer: d.epoch.confVer, version: d.epoch.version } });
  const l1 = await leaderOf(1);
  for (const k of ['a', 'n', 'z']) {
    const res = await l1.kv.put({ header: h(1, descOn(l1.storeId, 1)!), key: b(k), value: b(`v-${k}`) });
    assert.equal(res.rangeError, undefined);
  }
  const target = [1, 2, 3].find((s) => s !== l1.storeId)!;
  await operator({ kind: K.TRANSFER_LEADER, rangeId: 1, toStore: target });
  assert.equal((await leaderOf(1)).storeId, target);

  const split = await operator({ kind: K.SPLIT, rangeId: 1, splitKey: b('m') });
  const rightId = split.right!.rangeId!;
  assert.ok(rightId > 1 && rightId < 2 ** 32);
  assert.equal(descOn(1, rightId)?.rangeId, rightId, 'the right range exists on the stores with PD\'s id');

  const add = await operator({ kind: K.ADD_REPLICA, rangeId: 1, toStore: 4 });
  assert.ok(descriptorFromWire(add.descriptor!).replicas.some((r) => r.storeId === 4 && r.role === ReplicaRole.Voter));

  const moveFrom = descOn(target, rightId)!.replicas.map((r) => r.storeId).find((s) => s !== 4)!;
  const move = await operator({ kind: K.MOVE_REPLICA, rangeId: rightId, fromStore: moveFrom, toStore: 4 });
  const moved = descriptorFromWire(move.descriptor!);
  assert.ok(moved.replicas.some((r) => r.storeId === 4) && !moved.replicas.some((r) => r.storeId === moveFrom));
  // One joint change (ReplaceVoter) left by the store: three full voters at the end.
  assert.deepEqual(moved.replicas.map((r) => r.role), [ReplicaRole.Voter, ReplicaRole.Voter, ReplicaRole.Voter]);

  // Remove range 1's replica on whichever store leads it now: leadership moves away first.
  const lead = (await leaderOf(1)).storeId;
  await operator({ kind: K.REMOVE_REPLICA, rangeId: 1, fromStore: lead });
  for (let i = 0; i < 200 && descOn(lead, 1) !== null; i++) await sleep(20);
  assert.equal(descOn(lead, 1), null, 'the removed store destroyed its replica');

  // The data is all there, read through the ranges' current leaders.
  await reportLeaders();
  for (const k of ['a', 'n', 'z']) {
    const route = await client.call(pd.address, 'getRangeByKey', { key: b(k) });
    const d = descriptorFromWire(route.route!.descriptor!);
    const ls = await leaderOf(d.rangeId);
    const got = await ls.kv.get({ header: { ...h(d.rangeId, descOn(ls.storeId, d.rangeId)!), readConsistency: metapb.ReadConsistency.LINEARIZABLE }, key: b(k) });
    assert.equal(Buffer.from(got.value ?? new Uint8Array(0)).toString(), `v-${k}`, k);
  }
  t.diagnostic(`operator durations (tick 20 ms, operator tick 50 ms): ${durations.join(', ')}`);
});
