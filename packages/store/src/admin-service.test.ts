import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminpb, metapb } from '@rangekv/proto';
import { MessageType } from '@rangekv/raft';
import { FailedPreconditionError, InvalidArgumentError } from './errors.js';
import { storeIdSpace, type StoreServer } from './store-server.js';
import { StoreCluster, onLeader } from './testing/store-cluster.js';

const b = (s: string): Buffer => Buffer.from(s);
type Epoch = { confVer: number; version: number };
type Desc = metapb.RangeDescriptor.$Properties;

function hdr(rangeId: number, epoch: Epoch, rc = metapb.ReadConsistency.LINEARIZABLE): metapb.RequestHeader.$Properties {
  return { rangeId, epoch, readConsistency: rc };
}

function epochOf(d: Desc | null | undefined): Epoch {
  return { confVer: d?.epoch?.confVer ?? 0, version: d?.epoch?.version ?? 0 };
}

async function put(c: StoreCluster, rangeId: number, epoch: Epoch, key: string, value: string): Promise<void> {
  const res = await onLeader(c, rangeId, (l) => l.kv.put({ header: hdr(rangeId, epoch), key: b(key), value: b(value) }));
  assert.equal(res.rangeError, undefined, res.rangeError?.message ?? '');
}

/** Splits through the range's leader (see onLeader). */
async function split(c: StoreCluster, rangeId: number, epoch: Epoch, key: string): Promise<{ left: Desc; right: Desc }> {
  const res = await onLeader(c, rangeId, (l) => l.admin.splitRange({ header: hdr(rangeId, epoch), splitKey: b(key) }));
  if (res.rangeError) assert.fail(res.rangeError.message ?? 'split failed');
  return { left: res.left!, right: res.right! };
}

test('split: the left range is cut, the right range starts on every store with the same replicas, both serve', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader(1);
    for (const k of ['a', 'f', 'm', 'q', 'z']) await put(c, 1, { confVer: 1, version: 1 }, k, `v-${k}`);
    const { left, right } = await split(c, 1, { confVer: 1, version: 1 }, 'm');
    assert.deepEqual(Buffer.from(left.endKey!), b('m'));
    assert.deepEqual(Buffer.from(right.startKey!), b('m'));
    assert.deepEqual(epochOf(left), { confVer: 1, version: 2 });
    assert.deepEqual(epochOf(right), { confVer: 1, version: 2 });
    const space = storeIdSpace(leader.storeId);
    const rid = right.rangeId!;
    assert.ok(rid >= space.first && rid < space.limit, `new range id ${rid} is in the leader store's id space`);
    assert.deepEqual(right.replicas!.map((r) => [r.storeId, r.replicaId]), left.replicas!.map((r) => [r.storeId, r.replicaId]));
    await c.waitFor('the right range on every store', () => [...c.servers.values()].every((s) => s.scheduler.get(rid)?.log.descriptor?.rangeId === rid));
    const rLeader = await c.waitForLeader(rid);
    // Old epoch: EpochNotMatch; key on the other side: KeyNotInRange; the right range serves its keys.
    const stale = await leader.kv.get({ header: hdr(1, { confVer: 1, version: 1 }), key: b('a') });
    assert.deepEqual(stale.rangeError?.epochNotMatch?.current?.map((d) => d.rangeId), [1, rid], 'an old-epoch request is refused with both halves');
    const wrongSide = await c.leader(1)!.kv.get({ header: hdr(1, epochOf(left)), key: b('q') });
    assert.ok(wrongSide.rangeError?.keyNotInRange, 'a key now on the right is not in the left range');
    for (const k of ['m', 'q', 'z']) {
      const got = await rLeader.kv.get({ header: hdr(rid, epochOf(right)), key: b(k) });
      assert.equal(Buffer.from(got.value!).toString(), `v-${k}`);
    }
    await put(c, rid, epochOf(right), 'r', 'new');
    // Restart a store: both ranges come back from its data dir.
    const sid = c.followers(rid)[0]!.storeId;
    await c.stopStore(sid);
    const again = await c.startStore(sid);
    assert.deepEqual(again.status().map((s) => s.rangeId), [1, rid]);
    await c.waitFor('the restarted store applies the right range\'s write', () => (again.scheduler.get(rid)?.log.applied.index ?? 0) >= 3);
    const stats = [...c.servers.values()].map((s) => s.status().find((x) => x.rangeId === rid)!.descriptor!.startKey);
    for (const k of stats) assert.deepEqual(Buffer.from(k), b('m'));
  } finally {
    await c.close();
  }
});

test('split: bad keys, wrong epoch and followers get clear answers; nothing changes', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader(1);
    const e1 = { confVer: 1, version: 1 };
    await assert.rejects(leader.admin.splitRange({ header: hdr(1, e1), splitKey: b('') }), InvalidArgumentError);
    const { left } = await split(c, 1, e1, 'k');
    const again = await c.leader(1)!.admin.splitRange({ header: hdr(1, epochOf(left)), splitKey: b('p') });
    assert.ok(again.rangeError?.keyNotInRange, 'a split key beyond the left range');
    const stale = await c.leader(1)!.admin.splitRange({ header: hdr(1, e1), splitKey: b('c') });
    assert.ok(stale.rangeError?.epochNotMatch);
    const follower = c.followers(1)[0]!;
    const nl = await follower.admin.splitRange({ header: hdr(1, epochOf(left)), splitKey: b('c') });
    assert.ok(nl.rangeError?.notLeader);
    assert.equal(c.leader(1)!.status().length, 2, 'only the first split happened');
  } finally {
    await c.close();
  }
});

test('transfer leader: leadership moves to the named store and writes go on', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader(1);
    const e1 = { confVer: 1, version: 1 };
    const to = c.followers(1)[0]!.storeId;
    assert.deepEqual(await leader.admin.transferLeader({ header: hdr(1, e1), toStore: to }), {});
    await c.waitFor(`store ${to} leads`, () => c.leader(1)?.storeId === to);
    await put(c, 1, e1, 'k', 'v');
    await assert.rejects(c.server(to).admin.transferLeader({ header: hdr(1, e1), toStore: 99 }), FailedPreconditionError);
  } finally {
    await c.close();
  }
});

test('remove replica: the descriptor drops it, the removed store destroys its replica; the leader cannot remove itself', async () => {
  const c = await StoreCluster.start();
  try {
    await c.waitForLeader(1);
    const e1 = { confVer: 1, version: 1 };
    await assert.rejects(onLeader(c, 1, (l) => l.admin.removeReplica({ header: hdr(1, e1), storeId: l.storeId })), FailedPreconditionError);
    await put(c, 1, e1, 'a', '1');
    const victim = c.followers(1)[0]!;
    const removedId = victim.scheduler.get(1)!.node.id;
    const res = await onLeader(c, 1, (l) => l.admin.removeReplica({ header: hdr(1, e1), storeId: victim.storeId }));
    assert.equal(res.rangeError, undefined, res.rangeError?.message ?? '');
    assert.deepEqual(epochOf(res.descriptor), { confVer: 2, version: 1 });
    assert.deepEqual(res.descriptor!.replicas!.map((r) => r.storeId).sort(), c.ids.filter((i) => i !== victim.storeId));
    await c.waitFor('the removed store destroys its replica', () => victim.scheduler.get(1) === undefined && !victim.engine.hasRange(1));
    // A heartbeat from a leader that never learned of the removal, to the removed replica's
    // id, creates no replica: an empty one could vote that stale leader in (store-sim seed 4326).
    const leaderStore = (await c.waitForLeader(1)).storeId;
    const stale = {
      type: MessageType.Heartbeat, from: leaderStore, to: removedId, term: 1, logTerm: 0, index: 0, entries: [], commit: 0,
      reject: false, rejectHint: 0, transfer: false, snapshot: null, context: null,
    };
    const host = victim.host as unknown as {
      onInbound(from: number, msgs: { rangeId: number; msg: typeof stale }[]): void;
      counters: { inboundTombstoned: number };
      destroying: Set<number>;
    };
    await c.waitFor('the destroy finished', () => !host.destroying.has(1));
    const before = host.counters.inboundTombstoned;
    // The drop is synchronous (the counter says which path it took; creating would count inboundUnknownRange).
    host.onInbound(leaderStore, [{ rangeId: 1, msg: stale }]);
    assert.equal(host.counters.inboundTombstoned, before + 1);
    assert.equal(victim.scheduler.get(1), undefined, 'no replica created for the removed id');
    assert.equal(victim.engine.hasRange(1), false);
    // The tombstone is stored: after a restart the same message still creates nothing.
    await c.stopStore(victim.storeId, { transferLeaders: false });
    const again = await c.startStore(victim.storeId);
    const host2 = again.host as unknown as typeof host;
    host2.onInbound(leaderStore, [{ rangeId: 1, msg: stale }]);
    assert.equal(host2.counters.inboundTombstoned, 1, 'dropped after the restart too');
    assert.equal(again.scheduler.get(1), undefined);
    assert.equal(again.engine.hasRange(1), false);
    // Two voters left: writes still commit.
    const e2 = epochOf(res.descriptor);
    await put(c, 1, e2, 'b', '2');
    await c.eventually('the leader lists its range as leader and reports its one remaining follower', async () => {
      const l = await c.waitForLeader(1);
      const list = await l.admin.listRanges({});
      const st = await l.admin.rangeStatus({ rangeId: 1 });
      return list.ranges!.length === 1 && list.ranges![0]!.role === adminpb.RaftRole.LEADER && st.status!.progress!.length === 1;
    });
  } finally {
    await c.close();
  }
});

/** Until range 1's leader knows its replica `replicaId` holds some of its log (a learner may be promoted only then). */
async function leaderReached(c: StoreCluster, replicaId: number): Promise<void> {
  await c.waitFor(`the leader knows replica ${replicaId} holds its log`, () =>
    (c.leader(1)?.scheduler.get(1)?.node.status().progress?.get(replicaId)?.match ?? 0) > 0);
}

test('add a learner on a store without the range, it catches up by snapshot; promote it; it serves', async () => {
  const c = await StoreCluster.start();
  try {
    await c.waitForLeader(1);
    let epoch = { confVer: 1, version: 1 };
    for (let i = 0; i < 20; i++) await put(c, 1, epoch, `k${i}`, `v${i}`);
    const other = c.followers(1)[0]!;
    const removed = await onLeader(c, 1, (l) => l.admin.removeReplica({ header: hdr(1, epoch), storeId: other.storeId }));
    assert.equal(removed.rangeError, undefined, removed.rangeError?.message ?? '');
    epoch = epochOf(removed.descriptor);
    await c.waitFor('the removed replica is gone', () => !other.engine.hasRange(1));
    await other.engine.drainBackground();
    await put(c, 1, epoch, 'while-away', 'x');
    const added = await onLeader(c, 1, (l) => l.admin.addReplica({ header: hdr(1, epoch), storeId: other.storeId, role: metapb.ReplicaRole.LEARNER }));
    assert.equal(added.rangeError, undefined, added.rangeError?.message ?? '');
    const learner = added.descriptor!.replicas!.find((r) => r.storeId === other.storeId)!;
    assert.equal(learner.role, metapb.ReplicaRole.LEARNER);
    assert.ok(learner.replicaId! > 3, 'a fresh replica id');
    epoch = epochOf(added.descriptor);
    await c.waitFor('the learner has the range with its data', () => (other.scheduler.get(1)?.log.descriptor?.epoch.confVer ?? 0) >= epoch.confVer);
    await leaderReached(c, learner.replicaId!);
    assert.ok(other.counters.snapshotsReceived >= 1, 'the learner got its data by snapshot');
    const promoted = await onLeader(c, 1, (l) => l.admin.promoteLearner({ header: hdr(1, epoch), storeId: other.storeId }));
    assert.equal(promoted.rangeError, undefined, promoted.rangeError?.message ?? '');
    assert.equal(promoted.descriptor!.replicas!.find((r) => r.storeId === other.storeId)!.role, metapb.ReplicaRole.VOTER);
    epoch = epochOf(promoted.descriptor);
    await c.eventually('the new voter serves a stale read of every key', async () => {
      const got = await other.kv.get({ header: hdr(1, epoch, metapb.ReadConsistency.STALE), key: b('while-away') });
      return got.rangeError === undefined && Buffer.from(got.value ?? []).toString() === 'x';
    }, 20_000);
    // It can lead now.
    await onLeader(c, 1, (l) => l.admin.transferLeader({ header: hdr(1, epoch), toStore: other.storeId }));
    await c.waitFor('the new voter leads', () => c.leader(1)?.storeId === other.storeId);
  } finally {
    await c.close();
  }
});

test('add replica names only stores this store knows, and never leaves fewer live voters than a quorum; no transfer to a down store', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader(1);
    const epoch = { confVer: 1, version: 1 };
    await assert.rejects(leader.admin.addReplica({ header: hdr(1, epoch), storeId: 2 ** 32, role: metapb.ReplicaRole.VOTER }),
      (e: unknown) => e instanceof FailedPreconditionError && /not known to store/.test(e.message));
    await assert.rejects(leader.admin.addReplica({ header: hdr(1, epoch), storeId: 9, role: metapb.ReplicaRole.LEARNER }),
      (e: unknown) => e instanceof FailedPreconditionError && /store 9 is not known/.test(e.message));
    // Store 4 has an address but never answers. With a follower down, voters {1,2,3,4}
    // would have 2 live of 4: below a quorum of 3.
    c.peers.set(4, '127.0.0.1:1');
    const down = c.followers(1)[0]!.storeId;
    await c.stopStore(down, { transferLeaders: false });
    await c.waitFor(`store ${down} is down for the leader`, () => leader.liveness.isDown(down));
    // Raft would stop taking proposals for the transfer's length: refused instead.
    await assert.rejects(leader.admin.transferLeader({ header: hdr(1, epoch), toStore: down }),
      (e: unknown) => e instanceof FailedPreconditionError && /is down \(store liveness\)/.test(e.message));
    await assert.rejects(leader.admin.addReplica({ header: hdr(1, epoch), storeId: 4, role: metapb.ReplicaRole.VOTER }),
      (e: unknown) => e instanceof FailedPreconditionError && /2 of 4 voters would be on live stores, below a quorum of 3/.test(e.message));
    const learner = await leader.admin.addReplica({ header: hdr(1, epoch), storeId: 4, role: metapb.ReplicaRole.LEARNER });
    assert.equal(learner.rangeError, undefined, 'a learner never counts towards the quorum');
    await assert.rejects(leader.admin.promoteLearner({ header: hdr(1, epochOf(learner.descriptor)), storeId: 4 }),
      (e: unknown) => e instanceof FailedPreconditionError && /below a quorum/.test(e.message));
    const st = leader.status().find((r) => r.rangeId === 1)!;
    assert.equal(st.descriptor!.replicas.filter((r) => r.role === 0).length, 3, 'still three voters');
  } finally {
    await c.close();
  }
});

test('a learner the leader never reached is not promoted (it would count against the quorum); once caught up it is', async () => {
  const c = await StoreCluster.start();
  try {
    const leader = await c.waitForLeader(1);
    // Store 4 has an address but never answers: three live voters of four would be a quorum,
    // but the learner there holds nothing.
    c.peers.set(4, '127.0.0.1:1');
    const added = await leader.admin.addReplica({ header: hdr(1, { confVer: 1, version: 1 }), storeId: 4, role: metapb.ReplicaRole.LEARNER });
    assert.equal(added.rangeError, undefined, added.rangeError?.message ?? '');
    await assert.rejects(leader.admin.promoteLearner({ header: hdr(1, epochOf(added.descriptor)), storeId: 4 }),
      (e: unknown) => e instanceof FailedPreconditionError && /learner \d+ on store 4 is not caught up \(it holds the log to index 0/.test(e.message));
    assert.equal(leader.status().find((r) => r.rangeId === 1)!.descriptor!.replicas.filter((r) => r.role === 0).length, 3, 'still three voters');
  } finally {
    await c.close();
  }
});

async function routedPut(c: StoreCluster, key: string, value: string, deadlineMs = 20_000): Promise<'ok' | 'ambiguous'> {
  const deadline = Date.now() + deadlineMs;
  let ambiguous = false;
  while (Date.now() < deadline) {
    const s = routeTo(c, key);
    if (s) {
      try {
        const res = await s.server.kv.put({ header: hdr(s.rangeId, s.epoch), key: b(key), value: b(value) });
        if (res.rangeError === undefined || res.rangeError === null) return ambiguous ? 'ambiguous' : 'ok';
      } catch (e) {
        if (!(e instanceof Error) || e.name !== 'AmbiguousResultError') throw e;
        ambiguous = true;
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`put ${key} did not succeed in ${deadlineMs} ms`);
}

/** Finds the range holding `key` and its leader from the stores' own state (a test's stand-in for a client's range cache). */
function routeTo(c: StoreCluster, key: string): { server: StoreServer; rangeId: number; epoch: Epoch } | null {
  const k = b(key);
  for (const s of c.servers.values()) {
    for (const r of s.scheduler.all()) {
      const d = r.log.descriptor;
      if (!r.isLeader || d === null) continue;
      if (Buffer.compare(k, Buffer.from(d.startKey)) >= 0 && (d.endKey.length === 0 || Buffer.compare(k, Buffer.from(d.endKey)) < 0)) {
        return { server: s, rangeId: r.rangeId, epoch: d.epoch };
      }
    }
  }
  return null;
}

test('split and transfer under load: no acknowledged write is lost or lands in the wrong range', async () => {
  const c = await StoreCluster.start();
  try {
    await c.waitForLeader(1);
    const acked = new Map<string, string>();
    let stop = false;
    let done = 0;
    /** Lets the writers complete `n` more writes (under load between the admin steps). */
    const moreWrites = (n: number): Promise<void> => {
      const mark = done + n;
      return c.waitFor(`${n} more writes`, () => done >= mark);
    };
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        // Each writer owns its keys (w, w + 8, ...): one writer per key, so the last ack is the value.
        const key = `k${String(((i * 7) % 25) * 8 + w).padStart(3, '0')}`;
        const value = `${w}-${i}`;
        if ((await routedPut(c, key, value)) === 'ok') acked.set(key, value);
        else acked.delete(key); // unknown outcome: not checked
        done++;
      }
    });
    try {
      // Each split cuts the range on the right of the previous one; then its new right half changes leader.
      let target = { rangeId: 1, epoch: { confVer: 1, version: 1 } };
      for (const at of ['k050', 'k100', 'k150']) {
        await moreWrites(20);
        const { right } = await split(c, target.rangeId, target.epoch, at);
        target = { rangeId: right.rangeId!, epoch: epochOf(right) };
        const l = await c.waitForLeader(right.rangeId!);
        const to = c.ids.find((id) => id !== l.storeId)!;
        await l.admin.transferLeader({ header: hdr(right.rangeId!, epochOf(right)), toStore: to });
      }
      await moreWrites(20);
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    assert.ok(acked.size > 50, `writers made progress (${acked.size} keys)`);
    // Every acknowledged write is readable through the range that now owns its key, on every store.
    for (const [key, value] of acked) {
      const s = routeTo(c, key);
      assert.ok(s, `a leader for ${key}`);
      const got = await s.server.kv.get({ header: hdr(s.rangeId, s.epoch), key: b(key) });
      assert.equal(got.rangeError, undefined);
      assert.equal(Buffer.from(got.value ?? []).toString(), value, `key ${key}`);
    }
    await c.waitFor('every store has the 4 ranges', () => [...c.servers.values()].every((s) => s.status().length === 4));
  } finally {
    await c.close();
  }
});

test('replace a voter by a caught-up learner in one joint change: the voter count never changes; refusals', async () => {
  const c = await StoreCluster.start({ stores: 4 });
  try {
    let epoch = { confVer: 1, version: 1 };
    const leaderStore = (await c.waitForLeader(1)).storeId;
    const [newcomer, old] = c.ids.filter((id) => id !== leaderStore);
    // Four voters: make the newcomer's store empty, then bring it back as a learner.
    const removed = await onLeader(c, 1, (l) => l.admin.removeReplica({ header: hdr(1, epoch), storeId: newcomer! }));
    assert.equal(removed.rangeError, undefined, removed.rangeError?.message ?? '');
    epoch = epochOf(removed.descriptor);
    await c.waitFor('the removed replica is gone', () => !c.server(newcomer!).engine.hasRange(1));
    await put(c, 1, epoch, 'before', 'x');
    const added = await onLeader(c, 1, (l) => l.admin.addReplica({ header: hdr(1, epoch), storeId: newcomer!, role: metapb.ReplicaRole.LEARNER }));
    assert.equal(added.rangeError, undefined, added.rangeError?.message ?? '');
    epoch = epochOf(added.descriptor);
    await c.waitFor('the learner has the range', () => (c.server(newcomer!).scheduler.get(1)?.log.descriptor?.epoch.confVer ?? 0) >= epoch.confVer);
    await leaderReached(c, added.descriptor!.replicas!.find((r) => r.storeId === newcomer)!.replicaId!);
    const l = await c.waitForLeader(1);
    // Refused: not a learner, not a voter, the leader's own replica, the same store.
    await assert.rejects(l.admin.replaceVoter({ header: hdr(1, epoch), learnerStore: old!, voterStore: newcomer! }), /has no learner on store/);
    await assert.rejects(l.admin.replaceVoter({ header: hdr(1, epoch), learnerStore: newcomer!, voterStore: newcomer! }), InvalidArgumentError);
    await assert.rejects(l.admin.replaceVoter({ header: hdr(1, epoch), learnerStore: newcomer!, voterStore: l.storeId }), /holds the leader/);
    const voterCounts: number[] = [];
    const watch = setInterval(() => {
      const d = l.scheduler.get(1)?.log.descriptor;
      if (!d) return;
      // Each half of a joint configuration: incoming = voters + incoming, outgoing = voters + outgoing (+ demoting).
      const R = metapb.ReplicaRole;
      voterCounts.push(d.replicas.filter((x) => x.role === R.VOTER || x.role === R.VOTER_INCOMING).length);
      voterCounts.push(d.replicas.filter((x) => x.role === R.VOTER || x.role === R.VOTER_OUTGOING || x.role === R.VOTER_DEMOTING).length);
    }, 1);
    let res;
    try {
      res = await onLeader(c, 1, (x) => x.admin.replaceVoter({ header: hdr(1, epoch), learnerStore: newcomer!, voterStore: old! }));
      assert.equal(res.rangeError, undefined, res.rangeError?.message ?? '');
      // The answer is the joint configuration: the learner incoming, the old voter outgoing.
      const roles = new Map(res.descriptor!.replicas!.map((x) => [x.storeId, x.role]));
      assert.equal(roles.get(newcomer!), metapb.ReplicaRole.VOTER_INCOMING);
      assert.equal(roles.get(old!), metapb.ReplicaRole.VOTER_OUTGOING);
      await c.waitFor('the leader left the joint configuration', () => {
        const d = c.leader(1)?.scheduler.get(1)?.log.descriptor;
        return d !== undefined && d !== null && d.replicas.every((x) => x.role === metapb.ReplicaRole.VOTER) && !d.replicas.some((x) => x.storeId === old);
      });
    } finally {
      clearInterval(watch);
    }
    assert.ok(voterCounts.length > 0 && voterCounts.every((n) => n === 3), `voters per half: ${[...new Set(voterCounts)].join(',')}`);
    await c.waitFor('the removed store destroys its replica', () => !c.server(old!).engine.hasRange(1));
    const final = c.leader(1)!.scheduler.get(1)!.log.descriptor!;
    await put(c, 1, final.epoch, 'after', 'y');
    await c.eventually('the new voter serves a stale read of a write from before', async () => {
      const got = await c.server(newcomer!).kv.get({ header: hdr(1, final.epoch, metapb.ReadConsistency.STALE), key: b('before') });
      return got.rangeError === undefined && Buffer.from(got.value ?? []).toString() === 'x';
    }, 20_000);
  } finally {
    await c.close();
  }
});
