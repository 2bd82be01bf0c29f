// A removed replica is destroyed in steps: it leaves the scheduler at once, and its log is
// deleted once the persists and applies in flight have settled. A leader's message that
// arrives in between must not create a replica on that log: the log would be deleted under
// the new replica (the host then stopped on "defer ready: range ... does not exist"; found
// by store-sim seed 4060), or a removed replica would come back with its old state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Prng, emptyMessage } from '@rangekv/raft';
import { ReplicaRole, metapb, type RangeDescriptor } from '@rangekv/proto';
import { SimNetwork } from './sim-network.js';
import { SimStore } from './sim-store.js';
import { SimWorld } from './world.js';

const RANGE = 1;

function leaderOf(stores: readonly SimStore[]): SimStore | null {
  return stores.find((s) => s.store?.host.scheduler.get(RANGE)?.isLeader === true) ?? null;
}

test('a leader message that arrives while a removed replica is being destroyed is dropped, not turned into a replica', async () => {
  const world = new SimWorld();
  const net = new SimNetwork(world, new Prng(7), { latencyMsMin: 1, latencyMsMax: 2, dropRate: 0 });
  const stores = [1, 2, 3].map((id) => new SimStore(id, world, net, new Prng(100 + id), {
    timing: { tickMs: 10, electionTimeoutTicks: 10, heartbeatIntervalTicks: 2, leaseMarginTicks: 2, livenessIntervalMs: 50, livenessTimeoutMs: 400 },
    syncMsMin: 1, syncMsMax: 2, compactThresholdEntries: 1000, compactKeepEntries: 10,
  }));
  const replicas = [1, 2, 3].map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter }));
  const desc: RangeDescriptor = { rangeId: RANGE, startKey: new Uint8Array(0), endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 }, replicas };
  for (const s of stores) await world.drive(s.bootstrap([desc]));
  for (const s of stores) await world.drive(s.start());
  while (leaderOf(stores) === null && world.now < 5_000) await world.runUntil(world.now + 10);
  const leader = leaderOf(stores);
  assert.ok(leader?.store, 'a leader within 5 s');
  const victim = stores.find((s) => s !== leader)!;

  const d = leader.store.host.scheduler.get(RANGE)!.log.descriptor!;
  const header = { rangeId: RANGE, epoch: { confVer: d.epoch.confVer, version: d.epoch.version }, readConsistency: metapb.ReadConsistency.LINEARIZABLE };
  // Writes keep the victim's (slow) disk busy, so its destroy waits on persists in flight:
  // the window spans several events, as it did in the seed.
  victim.slowFactor = 30;
  const kv = leader.store.kv;
  let writing = true;
  const writeLoop = (n: number): void => {
    if (!writing) return;
    void kv.put({ header: { ...header, readConsistency: undefined }, key: Buffer.from(`k${n % 4}`), value: Buffer.from(`v${n}`) }).catch(() => {});
    world.at(0, 5, () => writeLoop(n + 1));
  };
  writeLoop(0);
  await world.runUntil(world.now + 100);
  void leader.store.admin.removeReplica({ header, storeId: victim.id });
  const host = victim.store!.host;
  const m = emptyMessage();
  m.type = MessageType.Heartbeat;
  m.from = leader.id;
  m.to = victim.id;
  m.term = leader.store.host.scheduler.get(RANGE)!.node.basicStatus().term;
  // After every event: once the victim is between leaving the scheduler and deleting its
  // log, hand it what the transport would for a heartbeat sent just before the leader
  // applied the removal.
  let injected = false;
  const inject = (): void => {
    if (injected || host.scheduler.get(RANGE) !== undefined || !host.engine.hasRange(RANGE)) return;
    injected = true;
    (host as unknown as { onInbound(fromStore: number, msgs: { rangeId: number; msg: typeof m }[]): void }).onInbound(leader.id, [{ rangeId: RANGE, msg: m }]);
  };
  while (!injected && world.now < 10_000) await world.runUntil(world.now + 10, inject);
  assert.ok(injected, 'the victim went through the window between leaving the scheduler and deleting its log');
  assert.equal(host.counters.inboundDestroyingRange, 1);

  writing = false;
  await world.runUntil(world.now + 1_000);
  assert.equal(host.fatal, null);
  assert.equal(host.scheduler.get(RANGE), undefined);
  assert.equal(host.engine.hasRange(RANGE), false, 'the removed replica\'s log is deleted');
  for (const s of stores) await world.drive(s.store!.stop());
});
