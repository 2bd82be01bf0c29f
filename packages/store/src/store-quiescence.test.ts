// Quiescence end to end: three StoreServers in one process (real engines, transports on
// 127.0.0.1). Idle ranges stop ticking and heartbeating; requests and messages wake
// them; store liveness wakes the followers of a range whose leader store went away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metapb } from '@rangekv/proto';
import type { StoreServer } from './store-server.js';
import { rangeKeyPrefix } from '@rangekv/multiraft/testing/local-cluster';
import { StoreCluster, type StoreClusterOptions } from './testing/store-cluster.js';

const b = (s: string): Buffer => Buffer.from(s);
const str = (v: Uint8Array | null | undefined): string => Buffer.from(v ?? new Uint8Array(0)).toString();
const C = metapb.ReadConsistency;

/** Election timeout + lease margin (StoreCluster: 10 + raft's default 2). */
const LEASE_WAKE_TICKS = 12;

async function quiescentCluster(opts: StoreClusterOptions): Promise<StoreCluster> {
  const c = await StoreCluster.start(opts);
  const ranges = opts.ranges ?? 1;
  try {
    await c.waitFor(`all ${ranges} ranges quiescent on every store`, () =>
      [...c.servers.values()].every((s) => s.quiescentCount === ranges));
  } catch (e) {
    await c.close();
    throw e;
  }
  return c;
}

function leaderOf(c: StoreCluster, rangeId: number, except?: number): StoreServer | undefined {
  for (const s of c.servers.values()) {
    if (s.storeId !== except && s.scheduler.get(rangeId)?.isLeader) return s;
  }
  return undefined;
}

test('idle ranges quiesce: leaders and followers stop ticking, and no raft heartbeats are sent after', async () => {
  // A generous liveness timeout: a loaded machine must not declare a store down here.
  const c = await quiescentCluster({ ranges: 8, livenessIntervalMs: 100, livenessTimeoutMs: 5_000 });
  try {
    for (const s of c.servers.values()) {
      assert.equal(s.scheduler.tickingCount, 0);
      assert.ok(s.status().every((r) => r.quiescent));
    }
    // Every range still has exactly one leader, known to its followers.
    for (let r = 1; r <= 8; r++) {
      const lead = leaderOf(c, r)!;
      for (const s of c.servers.values()) assert.equal(s.scheduler.get(r)!.lead, lead.storeId, `range ${r} on store ${s.storeId}`);
    }
    // tick() does not even visit a quiescent group.
    let nodeTicks = 0;
    for (const s of c.servers.values()) {
      for (const r of s.scheduler.all()) {
        const orig = r.node.tick.bind(r.node);
        r.node.tick = () => {
          nodeTicks++;
          orig();
        };
      }
    }
    const before = [...c.servers.values()].map((s) => ({ s, ticks: s.scheduler.ticks, m: s.transportMetrics() }));
    await c.waitFor('30 more store ticks', () => before.every(({ s, ticks }) => s.scheduler.ticks >= ticks + 30));
    for (const { s, m } of before) {
      const now = s.transportMetrics();
      assert.equal(now.heartbeatsSent, m.heartbeatsSent, `store ${s.storeId} sent raft heartbeats while quiescent`);
      assert.equal(now.messagesSent, m.messagesSent, `store ${s.storeId} sent raft messages while quiescent`);
      assert.ok(now.livenessPacketsSent > m.livenessPacketsSent, 'store liveness keeps pinging');
      assert.equal(s.quiescentCount, 8);
      for (const peer of c.ids) if (peer !== s.storeId) assert.equal(s.liveness.isLive(peer), true);
    }
    assert.equal(nodeTicks, 0);
  } finally {
    await c.close();
  }
});

/** Waits until range `rangeId` is quiescent on every store. */
function rangeQuiescent(c: StoreCluster, rangeId: number): Promise<void> {
  return c.waitFor(`range ${rangeId} quiescent again`, () => [...c.servers.values()].every((s) => s.scheduler.get(rangeId)!.quiescent));
}

/** Range 1's leader, once a write of `key` (value x) went through and the range quiesced again. */
async function leaderAfterWrite(c: StoreCluster, key: string): Promise<StoreServer> {
  const leader = leaderOf(c, 1)!;
  await leader.kv.put({ header: c.header(1), key: b(key), value: b('x') });
  await rangeQuiescent(c, 1);
  return leader;
}

test('a write to a quiescent range wakes it and succeeds; a read wakes it too', async () => {
  const c = await quiescentCluster({ ranges: 4, livenessTimeoutMs: 5_000 });
  try {
    const leader = leaderOf(c, 2)!;
    const wakes = leader.scheduler.stats.wakes;
    const key = b(`${rangeKeyPrefix(2)}k`);
    assert.deepEqual(await leader.kv.put({ header: c.header(2), key, value: b('v1') }), {});
    assert.ok(leader.scheduler.stats.wakes > wakes);
    for (const s of c.servers.values()) {
      await c.eventually(`store ${s.storeId} applied the write`, async () =>
        str((await s.kv.get({ header: c.header(2, C.STALE), key })).value) === 'v1');
    }
    // The other ranges stayed quiescent on the leader's store.
    assert.ok(leader.status().filter((r) => r.rangeId !== 2).every((r) => r.quiescent));

    await c.waitFor('range 2 quiescent again everywhere', () => [...c.servers.values()].every((s) => s.scheduler.get(2)!.quiescent));
    const lead2 = leaderOf(c, 2)!;
    const wakes2 = lead2.scheduler.stats.wakes;
    const got = await lead2.kv.get({ header: c.header(2), key });
    assert.equal(str(got.value), 'v1');
    assert.ok(lead2.scheduler.stats.wakes > wakes2, 'the linearizable read woke the range');
    // A follower read wakes the follower, which reaches the (woken) leader.
    await c.waitFor('range 2 quiescent again', () => [...c.servers.values()].every((s) => s.scheduler.get(2)!.quiescent));
    const follower = [...c.servers.values()].find((s) => !s.scheduler.get(2)!.isLeader)!;
    const viaFollower = await follower.kv.get({ header: c.header(2, C.FOLLOWER), key });
    assert.equal(str(viaFollower.value), 'v1');
  } finally {
    await c.close();
  }
});

test('a linearizable read of a quiescent range sends one heartbeat round: the read\'s own, which wakes the followers', async () => {
  const c = await quiescentCluster({ ranges: 1, livenessTimeoutMs: 5_000 });
  try {
    const leader = await leaderAfterWrite(c, 'q');
    const wakeRounds = leader.counters.wakeHeartbeatsSent;
    const readRounds = leader.counters.readHeartbeatsSent;
    const got = await leader.kv.get({ header: c.header(1), key: b('q') });
    assert.equal(str(got.value), 'x');
    assert.equal(leader.counters.wakeHeartbeatsSent, wakeRounds, 'no wake round before the read');
    assert.equal(leader.counters.readHeartbeatsSent - readRounds, 2, 'the read\'s round: one heartbeat per follower');
    await c.waitFor('the followers woke', () => [...c.servers.values()].every((s) => !s.scheduler.get(1)!.quiescent || s === leader));
    // An admin call still wakes with a wake round (nothing else would reach the followers now).
    await rangeQuiescent(c, 1);
    leader.scheduler.withNode(1, () => undefined);
    assert.equal(leader.counters.wakeHeartbeatsSent, wakeRounds, 'sent at the next cycle');
    await c.waitFor('the wake round went out', () => leader.counters.wakeHeartbeatsSent === wakeRounds + 2);
  } finally {
    await c.close();
  }
});

test('LEASE reads on a quiescent or just-woken leader go through ReadIndex', async () => {
  const c = await quiescentCluster({ ranges: 1, livenessTimeoutMs: 5_000 });
  try {
    const leader = await leaderAfterWrite(c, 'lease');
    const r = leader.scheduler.get(1)!;
    assert.equal(r.quiescent, true);
    const fallbacks = leader.kv.leaseFallbacks;
    const readHeartbeats = leader.counters.readHeartbeatsSent;
    const got = await leader.kv.get({ header: c.header(1, C.LEASE), key: b('lease') });
    assert.equal(str(got.value), 'x');
    assert.equal(leader.kv.leaseFallbacks, fallbacks + 1, 'quiescent leader: no lease');
    assert.ok(leader.counters.readHeartbeatsSent > readHeartbeats, 'served by a quorum round');
    // Right after the wake: still no lease until an election timeout + margin of ticks.
    // (The check is synchronous at the call: ticksAwake read here is the one it sees.)
    const awake = leader.scheduler.ticksAwake(r);
    const f2 = leader.kv.leaseFallbacks;
    const again = await leader.kv.get({ header: c.header(1, C.LEASE), key: b('lease') });
    assert.equal(str(again.value), 'x');
    if (awake >= 0 && awake < LEASE_WAKE_TICKS) assert.equal(leader.kv.leaseFallbacks, f2 + 1, `woke ${awake} ticks ago`);
  } finally {
    await c.close();
  }
});

test('LEASE reads on an awake leader whose lease holds are served at once (no ReadIndex round), keep the range awake, and see every acknowledged write', async () => {
  const c = await quiescentCluster({ ranges: 1, livenessTimeoutMs: 5_000 });
  try {
    const leader = leaderOf(c, 1)!;
    await leader.kv.put({ header: c.header(1), key: b('lease'), value: b('x') });
    const r = leader.scheduler.get(1)!;
    // Reads every 20 ms: the first ones wake the range and go through ReadIndex; once it has
    // been awake an election timeout + margin, the lease serves them at once.
    // The quiescence check is asserted right after the read served at once: nothing but
    // microtasks runs between the two (a tick or Ready could quiesce the range on a machine
    // stalled past quiesceIdleTicks, which says nothing about the read).
    const deadline = Date.now() + 30_000;
    for (;;) {
      assert.ok(Date.now() < deadline, 'no LEASE read was served at once within 30 s');
      const before = leader.kv.leaseReadsAtOnce;
      const got = await leader.kv.get({ header: c.header(1, C.LEASE), key: b('lease') });
      assert.equal(str(got.value), 'x');
      if (leader.kv.leaseReadsAtOnce > before) {
        assert.equal(r.quiescent, false, 'reads at once count as activity: the range stays awake');
        break;
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    for (let i = 0; i < 5; i++) {
      await leader.kv.put({ header: c.header(1), key: b('lease'), value: b(`y${i}`) });
      const got = await leader.kv.get({ header: c.header(1, C.LEASE), key: b('lease') });
      assert.equal(str(got.value), `y${i}`, 'the read sees the write acknowledged before it');
    }
  } finally {
    await c.close();
  }
});

test('a quiescent range whose leader store is partitioned away elects a new leader once liveness declares the store down', async () => {
  const c = await quiescentCluster({ ranges: 6, livenessIntervalMs: 100, livenessTimeoutMs: 1_000 });
  try {
    const old = leaderOf(c, 1)!;
    const led = old.status().filter((r) => r.isLeader).map((r) => r.rangeId);
    const others = [...c.servers.values()].filter((s) => s !== old);
    for (const s of others) c.faults.partition(old.storeId, s.storeId);
    await c.waitFor('the others declare the old leader store down', () => others.every((s) => !s.liveness.isLive(old.storeId)));
    await c.waitFor('new leaders for every range the partitioned store led', () =>
      led.every((rangeId) => leaderOf(c, rangeId, old.storeId) !== undefined));
    const lead1 = leaderOf(c, 1, old.storeId)!;
    assert.deepEqual(await lead1.kv.put({ header: c.header(1), key: b('after-partition'), value: b('ok') }), {});
    c.faults.heal();
  } finally {
    await c.close();
  }
});

test('a quiescent range whose leader store stops elects a new leader on the others; writes succeed', async () => {
  const c = await quiescentCluster({ ranges: 3, livenessTimeoutMs: 5_000 });
  try {
    const old = leaderOf(c, 1)!;
    const oldId = old.storeId;
    const led = old.status().filter((r) => r.isLeader).map((r) => r.rangeId);
    await c.stopStore(oldId);
    // The broken streams make the transport report the store unreachable: down at once,
    // well before the 5 s liveness timeout would.
    await c.waitFor('new leaders on the remaining stores', () => led.every((rangeId) => leaderOf(c, rangeId, oldId) !== undefined));
    const lead1 = leaderOf(c, 1, oldId)!;
    assert.deepEqual(await lead1.kv.put({ header: c.header(1), key: b('after-stop'), value: b('ok') }), {});
    for (const s of c.servers.values()) assert.equal(s.liveness.isLive(oldId), false);
  } finally {
    await c.close();
  }
});

test('an admin call wakes a quiescent range: a leadership transfer completes and the range quiesces again', async () => {
  const c = await quiescentCluster({ ranges: 2, livenessTimeoutMs: 5_000 });
  try {
    const leader = leaderOf(c, 1)!;
    const to = [...c.servers.values()].find((s) => s !== leader)!.storeId;
    assert.deepEqual(await leader.admin.transferLeader({ header: c.header(1), toStore: to }), {});
    await c.waitFor(`store ${to} leads range 1`, () => leaderOf(c, 1)?.storeId === to);
    assert.deepEqual(await c.server(to).kv.put({ header: c.header(1), key: b('moved'), value: b('1') }), {});
    await c.waitFor('range 1 quiescent again everywhere', () => [...c.servers.values()].every((s) => s.scheduler.get(1)!.quiescent));
    assert.ok([...c.servers.values()].every((s) => s.scheduler.get(2)!.quiescent), 'range 2 stays quiescent');
  } finally {
    await c.close();
  }
});

/**
 * Moves range `rangeId`'s leadership to `to` and waits until every replica's hard state
 * is at the new term with its vote for `to` (replica id = store id here) and it applied
 * its whole log: which replicas come back dormant after a restart is then known (a
 * replica that lost an election in its current term still holds its vote for itself; a
 * follower with entries it has not applied starts awake).
 */
async function leadershipTo(c: StoreCluster, rangeId: number, to: number): Promise<void> {
  // Always through a transfer, so a new term: `to` already leading may hold a term some
  // replica did not vote in. A transfer can time out on a loaded machine: asked again.
  const transfer = async (dest: number): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (leaderOf(c, rangeId)?.storeId !== dest) {
      assert.ok(Date.now() < deadline, `store ${dest} did not take range ${rangeId}'s leadership within 30 s`);
      const lead = leaderOf(c, rangeId);
      if (lead !== undefined) await lead.admin.transferLeader({ header: c.header(rangeId), toStore: dest });
      await new Promise((res) => setTimeout(res, 200));
    }
  };
  if (leaderOf(c, rangeId)?.storeId === to) await transfer(c.ids.find((id) => id !== to)!);
  await transfer(to);
  await c.waitFor(`store ${to} leads range ${rangeId}, every replica voted for it, applied its whole log and is quiescent`, () =>
    leaderOf(c, rangeId)?.storeId === to && [...c.servers.values()].every((s) => {
      const r = s.scheduler.get(rangeId)!;
      return r.log.hardState.vote === to && r.log.applied.index >= r.log.lastIndex() && r.quiescent;
    }));
}

/** Stops every store, `last` last: the others stop while its replicas still lead, so their hard states stay as they were. */
async function stopAll(c: StoreCluster, last: number): Promise<void> {
  for (const id of c.ids.filter((i) => i !== last)) await c.stopStore(id, { transferLeaders: false });
  await c.stopStore(last, { transferLeaders: false });
}

/** Range 1 led by store 1, every store stopped, then only stores 2 and 3 started: their replicas of range 1 come back dormant. */
async function restartWithoutTheLeaderStore(c: StoreCluster): Promise<void> {
  await leadershipTo(c, 1, 1);
  await stopAll(c, 1);
  for (const id of [2, 3]) await c.startStore(id);
  for (const id of [2, 3]) assert.equal(c.server(id).scheduler.tickingCount, 0, `store ${id}: dormant`);
}

/** Polls a STALE read of `key` on `s` until it returns `value` (30 s at most). */
async function staleReadSees(c: StoreCluster, s: StoreServer, rangeId: number, key: Buffer, value: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (str((await s.kv.get({ header: c.header(rangeId, C.STALE), key })).value) !== value) {
    assert.ok(Date.now() < deadline, `store ${s.storeId} did not apply ${value} to range ${rangeId} within 30 s`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

test('a restarted store brings its follower replicas back dormant: they do not tick, and the leaders\' next writes wake and catch them up', async () => {
  const c = await quiescentCluster({ ranges: 6, livenessTimeoutMs: 5_000 });
  try {
    for (let r = 1; r <= 6; r++) await leadershipTo(c, r, 1 + (r % 2));
    await c.stopStore(3);
    for (let r = 1; r <= 6; r++) await c.leader(r)!.kv.put({ header: c.header(r), key: b(`${rangeKeyPrefix(r)}/a`), value: b('before') });
    const s3 = await c.startStore(3);
    // Checked right after the start, before any message could arrive.
    assert.equal(s3.counters.restoredDormant, 6);
    assert.equal(s3.scheduler.tickingCount, 0, 'no restored follower ticks');
    assert.ok([...s3.scheduler.all()].every((r) => r.quiescent && r.lead === 0));
    for (let r = 1; r <= 6; r++) {
      const key = b(`${rangeKeyPrefix(r)}/a`);
      await c.leader(r)!.kv.put({ header: c.header(r), key, value: b('after') });
      await staleReadSees(c, s3, r, key, 'after');
    }
    await c.waitFor('every range quiescent again on every store', () => [...c.servers.values()].every((s) => s.quiescentCount === 6));
  } finally {
    await c.close();
  }
});

test('a store that led a range restarts after its peers elected another leader: its replica comes back dormant and follows that leader without campaigning', async () => {
  // The stop is seen at once (its streams break); the long liveness timeout keeps the
  // restarted store's dormant check (wakeDormantLeaderless) out of the way of the catch-up.
  const c = await quiescentCluster({ ranges: 1, livenessIntervalMs: 100, livenessTimeoutMs: 5_000 });
  try {
    await leadershipTo(c, 1, 2);
    await c.stopStore(2, { transferLeaders: false });
    const lead = await c.waitForLeader(1);
    const term = lead.scheduler.get(1)!.node.status().term;
    const s2 = await c.startStore(2);
    assert.equal(s2.counters.restoredDormant, 1, 'it voted for itself, and is dormant all the same');
    assert.equal(s2.scheduler.tickingCount, 0);
    const r2 = s2.scheduler.get(1)!;
    // The leader catches it up when its store is heard again (onStoreUp), which wakes it.
    await c.waitFor('store 2 follows the new leader', () => r2.lead === lead.scheduler.get(1)!.node.id);
    assert.equal(lead.scheduler.get(1)!.isLeader, true);
    assert.equal(lead.scheduler.get(1)!.node.status().term, term, 'no election since: store 2 did not campaign');
    assert.deepEqual(await lead.kv.put({ header: c.header(1), key: b('after-restart'), value: b('ok') }), {});
    await c.waitFor('every replica quiescent again', () => [...c.servers.values()].every((s) => s.quiescentCount === 1));
  } finally {
    await c.close();
  }
});

test('a store back after missing writes in many ranges is caught up by paced wakes: at most maxPacedAwakeGroups of a store\'s ranges awake for it at once', async () => {
  const ranges = 8;
  // A long liveness timeout: store 3's dormant check must not wake the replicas it led
  // (they would campaign and wake their leaders outside the paced queue) before the catch-up.
  const c = await quiescentCluster({
    ranges, livenessIntervalMs: 100, livenessTimeoutMs: 5_000,
    server: { scheduler: { maxPacedWakesPerTick: 1, maxPacedAwakeGroups: 2 } },
  });
  try {
    await c.stopStore(3, { transferLeaders: false });
    for (let r = 1; r <= ranges; r++) {
      const lead = await c.waitForLeader(r);
      await lead.kv.put({ header: c.header(r), key: b(`${rangeKeyPrefix(r)}/a`), value: b('missed') });
    }
    await c.waitFor('every range quiescent on stores 1 and 2', () => [1, 2].every((id) => c.server(id).quiescentCount === ranges));
    let maxAwake = 0;
    let maxQueued = 0;
    const sample = setInterval(() => {
      for (const id of [1, 2]) {
        const s = c.servers.get(id);
        if (s === undefined) continue;
        maxAwake = Math.max(maxAwake, [...s.scheduler.all()].filter((r) => r.isLeader && !r.quiescent).length);
        maxQueued = Math.max(maxQueued, s.scheduler.pacedWakesQueued);
      }
    }, 2);
    try {
      const s3 = await c.startStore(3);
      for (let r = 1; r <= ranges; r++) await staleReadSees(c, s3, r, b(`${rangeKeyPrefix(r)}/a`), 'missed');
      await c.waitFor('every range quiescent again on every store', () => [...c.servers.values()].every((s) => s.quiescentCount === ranges));
    } finally {
      clearInterval(sample);
    }
    assert.ok(maxQueued > 0, 'the wakes for store 3 went through the paced queue');
    assert.ok(maxAwake <= 2, `at most 2 leaders awake at once on a store, saw ${maxAwake}`);
  } finally {
    await c.close();
  }
});

test('every store restarts: the replica that led comes back dormant like the others and the range elects a leader after the liveness timeout', async () => {
  const c = await quiescentCluster({ ranges: 1, livenessIntervalMs: 100, livenessTimeoutMs: 1_000 });
  try {
    await leadershipTo(c, 1, 2);
    await stopAll(c, 2);
    for (const id of c.ids) await c.startStore(id);
    assert.equal(c.server(2).counters.restoredDormant, 1, 'it voted for itself, and is dormant all the same');
    assert.equal(c.server(2).scheduler.tickingCount, 0);
    const lead = await c.waitForLeader(1);
    assert.deepEqual(await lead.kv.put({ header: c.header(1), key: b('after-restart'), value: b('ok') }), {});
  } finally {
    await c.close();
  }
});

test('dormant replicas whose leader store does not come back elect a leader once the liveness timeout passes', async () => {
  const c = await quiescentCluster({ ranges: 1, livenessIntervalMs: 100, livenessTimeoutMs: 1_000 });
  try {
    await restartWithoutTheLeaderStore(c);
    const lead = await c.waitForLeader(1);
    assert.ok(lead.storeId === 2 || lead.storeId === 3);
    assert.deepEqual(await lead.kv.put({ header: c.header(1), key: b('after-restart'), value: b('ok') }), {});
  } finally {
    await c.close();
  }
});

test('a request to a dormant replica that knows no leader wakes it: the range elects a leader without waiting for liveness', async () => {
  // A liveness timeout longer than the test: only the request can wake the replicas.
  const c = await quiescentCluster({ ranges: 1, livenessTimeoutMs: 120_000 });
  try {
    await restartWithoutTheLeaderStore(c);
    const s = c.server(2);
    // The request wakes the replica, whose vote went to the dead leader in its term, so the
    // write waits for the election the wake starts (leader-waits.ts): proposed here if this
    // replica won it, else answered NotLeader. Never a write lost or a liveness timeout waited.
    const first = await s.kv.put({ header: c.header(1), key: b('k'), value: b('v') });
    assert.ok(!first.rangeError || first.rangeError.notLeader, `written or "not leader": ${JSON.stringify(first)}`);
    assert.equal(s.scheduler.get(1)!.quiescent, false, 'and wakes');
    const lead = await c.waitForLeader(1);
    assert.deepEqual(await lead.kv.put({ header: c.header(1), key: b('k'), value: b('v') }), {});
  } finally {
    await c.close();
  }
});

test('ranges quiesce while a follower store is down, and the leader of a range that store lags in wakes when it is back', async () => {
  const c = await quiescentCluster({ ranges: 2, livenessIntervalMs: 100, livenessTimeoutMs: 1_000 });
  try {
    await c.stopStore(3);
    const live = [c.server(1), c.server(2)];
    await c.waitFor('stores 1 and 2 see store 3 down', () => live.every((s) => !s.liveness.isLive(3)));
    const lead1 = await c.waitForLeader(1, 3);
    const key = b(`${rangeKeyPrefix(1)}/while-down`);
    assert.deepEqual(await lead1.kv.put({ header: c.header(1), key, value: b('v') }), {});
    // Store 3 lags in range 1 and is down: both ranges quiesce anyway (a live quorum is caught up).
    await c.waitFor('both ranges quiescent on stores 1 and 2 with store 3 down', () => live.every((s) => s.quiescentCount === 2));
    const s3 = await c.startStore(3);
    await staleReadSees(c, s3, 1, key, 'v');
    // Range 2 had nothing new for store 3: its leader stayed quiescent, its replica on 3 dormant.
    assert.equal(s3.scheduler.get(2)!.quiescent, true);
  } finally {
    await c.close();
  }
});
