// PD membership change at run time, with PD nodes in one process (real raft transports on
// 127.0.0.1): a node started with `join` is added (learner, snapshot, joint promotion), a
// failed node is removed and another replaces a live one in one joint step, the leader
// removes itself by handing off, unsafe changes are refused, and a removed node's data
// dir refuses to start. Ids handed out stay fresh across every change.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { silentLogger } from '@rangekv/runtime';
import { PdServer, type PdServerOptions } from './pd-server.js';
import { PdCallError, PdTestClient } from './testing/pd-test-client.js';
import { decodeMemberContext, encodeMemberContext, MAX_MEMBER_CONTEXT_BYTES, pdDescriptor } from './pd-membership-codec.js';
import { until } from './testing/wait.js';

let root: string;
let client: PdTestClient;
const pds = new Map<number, PdServer>();

function options(id: number, extra: Partial<PdServerOptions> = {}): PdServerOptions {
  return {
    pdId: id, dataDir: join(root, `pd${id}`), port: 0, raftPort: 0, log: silentLogger, initialStores: 3, tickMs: 20,
    leaderBalance: false, replicaChecker: false, replicaBalance: false, splitChecker: false, hotBalance: false,
    // A small log: a joining node catches up by snapshot.
    logCompaction: { logCompactionCheckTicks: 1, logCompactionThresholdEntries: 20, logCompactionKeepEntries: 5, maxFollowerLagEntries: 10 },
    membership: { memberCatchUpTimeoutMs: 10_000 },
    ...extra,
  };
}

/** Every running node learns every other running node's addresses (ephemeral ports). */
function wireAll(): void {
  for (const [id, pd] of pds) {
    for (const [other, o] of pds) {
      if (other === id) continue;
      try {
        pd.setPeer(other, { raft: `127.0.0.1:${o.raftPort}`, client: o.address });
      } catch {
        // Not one of its start-time peers: it finds members added later in PD's state.
      }
    }
  }
}

async function leader(): Promise<PdServer> {
  let l: PdServer | undefined;
  await until('a serving PD leader', () => (l = [...pds.values()].find((p) => p.group.serving)) !== undefined);
  return l!;
}

function addresses(): string[] {
  return [...pds.values()].map((p) => p.address);
}

/** Starts PD `id` with `join`, knowing the running members' addresses. */
async function startJoining(id: number): Promise<PdServer> {
  const peers = new Map([...pds].map(([pid, p]) => [pid, { raft: `127.0.0.1:${p.raftPort}`, client: p.address }]));
  const p = await PdServer.start(options(id, { join: true, peers }));
  pds.set(id, p);
  client.addresses = addresses();
  return p;
}

async function members(): Promise<{ id: number; learner: boolean }[]> {
  const res = await client.leader('getMembers', {});
  return res.members!.map((m) => ({ id: Number(m.id), learner: m.isLearner === true }));
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'pd-members-'));
  for (const id of [1, 2, 3]) pds.set(id, await PdServer.start(options(id, { peers: new Map([1, 2, 3].filter((x) => x !== id).map((x) => [x, { raft: '', client: '' }])) })));
  wireAll();
  client = new PdTestClient(addresses());
  // State worth copying, and a log long enough to be compacted: a joiner needs a snapshot.
  for (let i = 0; i < 40; i++) await client.leader('allocIds', { count: 1_000 });
});

after(async () => {
  client.close();
  for (const p of pds.values()) await p.stop({ transferLeadership: false });
  rmSync(root, { recursive: true, force: true });
});

test('the membership-change context round-trips and refuses what it cannot hold', () => {
  const m = new Map([[4, { raft: '10.0.0.4:2380', client: '10.0.0.4:2379' }]]);
  assert.deepEqual(decodeMemberContext(encodeMemberContext(m)), m);
  assert.deepEqual(decodeMemberContext(new Uint8Array(0)), new Map());
  assert.throws(() => decodeMemberContext(Uint8Array.from([9, 0x7b, 0x7d])), /format/);
  assert.throws(() => decodeMemberContext(Uint8Array.from([1, ...Buffer.from('{"members":[{"id":0,"raft":"a:1","client":"b:2"}]}')])), /member id/);
  assert.throws(() => decodeMemberContext(new Uint8Array(MAX_MEMBER_CONTEXT_BYTES + 1)), /exceeds/);
  const d = pdDescriptor({ voters: [1, 2], learners: [4], votersOutgoing: [3], learnersNext: [], autoLeave: true }, null);
  assert.deepEqual(d.replicas.map((r) => [r.replicaId, r.role]), [[1, 0], [2, 0], [3, 0], [4, 1]]);
});

test('a node started with join is added: learner, snapshot, promotion through a joint configuration', async () => {
  const l = await leader();
  const idsBefore = l.group.state.nextId;
  const p4 = await startJoining(4);
  assert.equal(p4.group.initialized, false, 'a joining node holds nothing until the leader reaches it');
  assert.equal(p4.group.serving, false);
  const res = await client.leader('addPdMember', { id: 4, raftAddress: `127.0.0.1:${p4.raftPort}`, clientAddress: p4.address }, 30_000);
  assert.equal(res.header?.error ?? null, null);
  assert.deepEqual(res.members!.map((m) => [Number(m.id), m.isLearner === true]), [[1, false], [2, false], [3, false], [4, false]]);
  assert.ok(p4.group.snapshotCounters.snapshotsReceived >= 1, 'PD 4 got PD\'s state by snapshot');
  await until('PD 4 applies the promotion', () => p4.group.config.voters.includes(4) && !p4.group.joint);
  assert.ok(p4.group.state.nextId >= idsBefore, 'PD 4 holds the id counters');
  // Every node knows PD 4's addresses from PD's state (they were not in their flags).
  for (const [id, p] of pds) if (id !== 4) assert.equal(p.group.raftAddressOf(4), `127.0.0.1:${p4.raftPort}`);
  // Adding it again is a no-op; with other addresses it is refused.
  const again = await client.leader('addPdMember', { id: 4, raftAddress: `127.0.0.1:${p4.raftPort}`, clientAddress: p4.address });
  assert.equal(again.members!.length, 4);
  await assert.rejects(client.leader('addPdMember', { id: 4, raftAddress: '127.0.0.1:1', clientAddress: p4.address }), /already a member/);
});

test('a failed node is removed; another replaces a live one in one joint step; ids stay fresh', async () => {
  // PD 3 fails.
  if ((await leader()).pdId === 3) await pds.get(3)!.stop();
  else await pds.get(3)!.stop({ transferLeadership: false });
  pds.delete(3);
  client.addresses = addresses();
  const ids1 = await client.leader('allocIds', { count: 1 });
  await client.leader('removePdMember', { id: 3 });
  assert.deepEqual((await members()).map((m) => m.id), [1, 2, 4]);
  // PD 5 joins and replaces PD 2 (alive) in the same joint configuration.
  const p5 = await startJoining(5);
  const res = await client.leader('addPdMember', { id: 5, raftAddress: `127.0.0.1:${p5.raftPort}`, clientAddress: p5.address, replaceId: 2 }, 30_000);
  assert.deepEqual(res.members!.map((m) => Number(m.id)), [1, 4, 5]);
  const ids2 = await client.leader('allocIds', { count: 1 });
  assert.ok(Number(ids2.first) > Number(ids1.first), `${ids2.first} after ${ids1.first}`);
  // PD 2, no longer a member, stops (it may never learn it was removed: raft stops
  // replicating to it once the change commits); the remaining three keep a leader.
  await pds.get(2)!.stop({ transferLeadership: false });
  pds.delete(2);
  client.addresses = addresses();
  await leader();
});

test('unsafe or malformed changes are refused with a clear error', async () => {
  await assert.rejects(client.leader('addPdMember', { id: 0, raftAddress: '127.0.0.1:1', clientAddress: '127.0.0.1:2' }),
    (e: unknown) => e instanceof PdCallError && /id must be in/.test(e.details));
  await assert.rejects(client.leader('addPdMember', { id: 9, raftAddress: 'nohost', clientAddress: '127.0.0.1:2' }), /raft_address.*not host:port/);
  await assert.rejects(client.leader('addPdMember', { id: 9, raftAddress: '127.0.0.1:1', clientAddress: '127.0.0.1:2', replaceId: 9 }), /cannot replace itself/);
  await assert.rejects(client.leader('removePdMember', { id: 77 }), /NOT_FOUND.*not a member/);
  await assert.rejects(client.leader('addPdMember', { id: 9, raftAddress: `${'h'.repeat(300)}:1`, clientAddress: '127.0.0.1:2' }), /longer than 255/);
  // A learner that never catches up (nothing listens there) is left a learner, with the reason.
  await assert.rejects(
    client.leader('addPdMember', { id: 9, raftAddress: '127.0.0.1:1', clientAddress: '127.0.0.1:2' }, 30_000),
    /did not catch up.*--join/,
  );
  assert.deepEqual((await members()).filter((m) => m.learner).map((m) => m.id), [9]);
  await client.leader('removePdMember', { id: 9 });
  // With one of three voters down, removing another live one would leave 1 of 2 reachable.
  const l = await leader();
  const [down, other] = [...pds.keys()].filter((id) => id !== l.pdId);
  const downNode = pds.get(down!)!;
  const downOpts = { raftPort: downNode.raftPort, port: Number(downNode.address.split(':')[1]) };
  await downNode.stop({ transferLeadership: false });
  pds.delete(down!);
  await until('the leader sees the stopped member down', () => !l.group.isLive(down!), 10_000);
  await assert.rejects(client.leader('removePdMember', { id: other! }), /below a quorum/);
  assert.deepEqual((await members()).map((m) => m.id).sort(), [1, 4, 5]);
  // It comes back (its data dir holds the membership changed since it started: that one is used).
  pds.set(down!, await PdServer.start(options(down!, { join: down !== 1, ...downOpts })));
  wireAll();
  client.addresses = addresses();
  await leader();
});

test('removing the leader hands leadership off first', async () => {
  const l = await leader();
  const id = l.pdId;
  const res = await client.leader('removePdMember', { id });
  assert.ok(!res.members!.some((m) => Number(m.id) === id), `PD ${id} left`);
  assert.equal(res.members!.length, 2);
  await l.stop({ transferLeadership: false });
  pds.delete(id);
  client.addresses = addresses();
  await client.leader('allocIds', { count: 1 });
  // A removed node that is still running cannot take leadership back (it is in no configuration of the others).
  assert.ok([...pds.values()].some((p) => p.group.serving));
});

test('a data dir whose membership does not name the node refuses to start', async () => {
  const dir = join(root, 'solo');
  const a = await PdServer.start(options(21, { dataDir: dir }));
  const b = await PdServer.start(options(22, { join: true, peers: new Map([[21, { raft: `127.0.0.1:${a.raftPort}`, client: a.address }]]) }));
  try {
    const solo = new PdTestClient([a.address]);
    await solo.leader('addPdMember', { id: 22, raftAddress: `127.0.0.1:${b.raftPort}`, clientAddress: b.address }, 30_000);
    solo.close();
  } finally {
    await b.stop({ transferLeadership: false });
    await a.stop({ transferLeadership: false });
  }
  // PD 21's data dir now holds members 21 and 22: started as PD 23 (a copied or reused dir) it is refused.
  await assert.rejects(PdServer.start(options(23, { dataDir: dir })), /PD 23 is not a member of the PD group in its data dir \(members 21,22\)/);
});
