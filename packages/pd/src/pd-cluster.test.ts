// Three PD nodes in one process (real raft transports on 127.0.0.1, ephemeral ports wired
// with setPeer): followers answer not_leader with the leader's address; the leader is
// stopped, a new one keeps the metadata, resumes a RUNNING operator and keeps allocating
// fresh ids; the stopped node restarts from its data dir and catches up.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { descriptorFromWire, pdpb } from '@rangekv/proto';
import { silentLogger } from '@rangekv/runtime';
import { PdServer, type PdServerOptions } from './pd-server.js';
import { FakeCluster } from './testing/fake-stores.js';
import { PdTestClient } from './testing/pd-test-client.js';
import { sleep, until } from './testing/wait.js';

const K = pdpb.OperatorKind;
const S = pdpb.OperatorStatus;

let root: string;
let fake: FakeCluster;
let client: PdTestClient;
const pds = new Map<number, PdServer>();
const raftAddrs = new Map<number, string>();
const storeAddrs = new Map<number, string>();

function options(id: number, raftPort = 0, port = 0): PdServerOptions {
  return {
    pdId: id, dataDir: join(root, `pd${id}`), port, raftPort, log: silentLogger, initialStores: 3, tickMs: 20,
    peers: new Map([1, 2, 3].filter((x) => x !== id).map((x) => [x, { raft: raftAddrs.get(x) ?? '', client: pds.get(x)?.address ?? '' }])),
    operatorLimits: { operatorTickMs: 20, retryActionMs: 200, rangeStatusTimeoutMs: 500 },
    // The operators are the tests' own: no scheduler adds any.
    leaderBalance: false,
    // A small log: a member that was down catches up by snapshot.
    logCompaction: { logCompactionCheckTicks: 1, logCompactionThresholdEntries: 20, logCompactionKeepEntries: 5, maxFollowerLagEntries: 10 },
  };
}

function wireAll(): void {
  for (const [id, pd] of pds) {
    for (const [other, o] of pds) if (other !== id) pd.setPeer(other, { raft: `127.0.0.1:${o.raftPort}`, client: o.address });
  }
}

async function leader(exclude = 0): Promise<PdServer> {
  for (let i = 0; i < 500; i++) {
    const l = [...pds.values()].find((p) => p.pdId !== exclude && p.group.serving);
    if (l) return l;
    await sleep(20);
  }
  throw new Error('no PD leader');
}

async function heartbeatAll(): Promise<pdpb.StoreHeartbeatResponse.$Properties[]> {
  const out: pdpb.StoreHeartbeatResponse.$Properties[] = [];
  for (const id of [1, 2, 3]) {
    out.push(await client.leader('storeHeartbeat', { store: { id, address: storeAddrs.get(id)!, raftAddress: `127.0.0.1:${9000 + id}` } }));
  }
  return out;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'pd-cluster-'));
  fake = new FakeCluster();
  for (const id of [1, 2, 3]) storeAddrs.set(id, await fake.startStore(id));
  for (const id of [1, 2, 3]) pds.set(id, await PdServer.start(options(id)));
  for (const [id, p] of pds) raftAddrs.set(id, `127.0.0.1:${p.raftPort}`);
  wireAll();
  client = new PdTestClient([...pds.values()].map((p) => p.address));
});

after(async () => {
  client.close();
  for (const p of pds.values()) await p.stop();
  await fake.stop();
  rmSync(root, { recursive: true, force: true });
});

test('a follower answers not_leader naming the leader; GetMembers works anywhere', async () => {
  const l = await leader();
  const follower = [...pds.values()].find((p) => p !== l)!;
  const res = await client.call(follower.address, 'allocIds', { count: 1 });
  assert.equal(res.header?.error?.notLeader?.leaderId, l.pdId);
  assert.equal(res.header?.error?.notLeader?.leaderAddress, l.address);
  assert.equal(res.first, 0, 'nothing was done');
  const members = await client.call(follower.address, 'getMembers', {});
  assert.deepEqual(members.members!.map((m) => [m.id, m.address, m.isLeader]),
    [1, 2, 3].map((id) => [id, pds.get(id)!.address, id === l.pdId]));
});

test('PD leader gone: a new leader keeps the metadata, resumes a RUNNING operator, ids stay fresh', async () => {
  const hb = await heartbeatAll();
  const boot = hb[2]!.bootstrap!.descriptor!;
  fake.createRange(descriptorFromWire(boot), 1);
  const ids = await client.leader('allocIds', { count: 3 });
  // An operator that cannot finish while stores ignore transfers.
  fake.ignoreTransfers = true;
  const created = await client.leader('createOperator', { kind: K.TRANSFER_LEADER, rangeId: 1, toStore: 3, timeoutMs: 60_000 });
  const opId = created.operator!.id!;
  assert.equal(created.operator!.status, S.RUNNING);
  const old = await leader();
  // The operator has taken a step on the old leader (asked the range's leader to transfer).
  await until('the operator asks for a transfer', () => fake.callsOf('transferLeader').length > 0);
  // Stop the leader without a hand-off (as if it died); keep its address for the restart.
  const oldId = old.pdId;
  const oldPort = Number(old.address.split(':')[1]);
  const oldRaftPort = old.raftPort;
  await old.stop({ transferLeadership: false });
  pds.delete(oldId);
  const next = await leader(oldId);
  assert.notEqual(next.pdId, oldId);
  // Metadata survived: stores, range 1, the operator (still RUNNING).
  const stores = await client.leader('listStores', {});
  assert.deepEqual(stores.stores!.map((s) => s.store!.id), [1, 2, 3]);
  const route = await client.leader('getRangeByKey', { key: new Uint8Array([1]) });
  assert.deepEqual(descriptorFromWire(route.route!.descriptor!), descriptorFromWire(boot));
  const before = await client.leader('getOperator', { id: opId });
  assert.equal(before.operator!.status, S.RUNNING);
  // Ids handed out by the new leader were never handed out before.
  const ids2 = await client.leader('allocIds', { count: 3 });
  assert.ok(ids2.first! >= ids.first! + 3, `${ids2.first} after ${ids.first}`);
  // The stores cooperate again: the new leader's runner completes the operator.
  fake.ignoreTransfers = false;
  let op = before.operator!;
  for (let i = 0; i < 300 && op.status === S.RUNNING; i++) {
    await sleep(20);
    op = (await client.leader('getOperator', { id: opId })).operator!;
  }
  assert.equal(op.status, S.SUCCEEDED, op.reason ?? '');
  assert.equal(fake.ranges.get(1)!.leaderStore, 3);
  // The old node restarts from its data dir (same ports) and catches up as a follower.
  const again = await PdServer.start(options(oldId, oldRaftPort, oldPort));
  pds.set(oldId, again);
  wireAll();
  for (let i = 0; i < 300 && again.group.state.operators.get(opId)?.status !== S.SUCCEEDED; i++) await sleep(20);
  assert.equal(again.group.state.operators.get(opId)?.status, S.SUCCEEDED);
  assert.equal(again.group.state.bootstrapped, true);
});

test('a member behind the compacted log catches up by a snapshot of PD\'s range and reloads its state', async () => {
  const l = await leader();
  const f = [...pds.values()].find((p) => p !== l)!;
  const id = f.pdId;
  const port = Number(f.address.split(':')[1]);
  const raftPort = f.raftPort;
  const behind = f.group.lastIndex;
  await f.stop();
  pds.delete(id);
  // 60 address changes: 60 raft entries; the leader compacts past the stopped member's log.
  for (let i = 0; i < 60; i++) {
    await client.leader('storeHeartbeat', { store: { id: 1, address: `127.0.0.1:${20000 + i}`, raftAddress: '127.0.0.1:9001' } });
  }
  for (let i = 0; i < 300 && l.group.firstIndex <= behind + 1; i++) await sleep(20);
  assert.ok(l.group.firstIndex > behind + 1, `leader compacted past ${behind} (first index ${l.group.firstIndex})`);
  const back = await PdServer.start(options(id, raftPort, port));
  pds.set(id, back);
  wireAll();
  for (let i = 0; i < 500 && back.group.state.stores.get(1)?.address !== '127.0.0.1:20059'; i++) await sleep(20);
  assert.equal(back.group.state.stores.get(1)?.address, '127.0.0.1:20059');
  assert.ok(back.group.snapshotCounters.snapshotsReceived >= 1, 'caught up by snapshot');
  assert.equal(back.group.state.bootstrapped, true);
  assert.equal(back.group.state.nextId, l.group.state.nextId);
});

test('a graceful stop of the leader hands leadership to another member', async () => {
  const l = await leader();
  const id = l.pdId;
  const port = Number(l.address.split(':')[1]);
  const raftPort = l.raftPort;
  await l.stop();
  pds.delete(id);
  // The stopped node heard from its successor before it stopped (hand-off, not an election after it left).
  assert.ok(l.group.leaderId !== 0 && l.group.leaderId !== id, `leader known at stop: ${l.group.leaderId}`);
  await leader(id);
  pds.set(id, await PdServer.start(options(id, raftPort, port)));
  wireAll();
});
