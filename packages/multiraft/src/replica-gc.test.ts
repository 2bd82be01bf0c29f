// Replica GC rounds over fake replicas: only a replica without a leader on two rounds in a
// row is checked; only a "removed" answer destroys, and only if the replica still has no
// leader and the same id; checks per round are bounded and go round-robin; the record's
// rule (newer confVer without the replica id); checkSoon (a replica in the way of a
// snapshot) checks at once, leader known or not, rate-limited per range; a removed replica
// is kept while the replica before it here is not current (a merge may need it).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@rangekv/runtime';
import type { Replica } from './replica.js';
import { removedByDescriptor, ReplicaGc, type ReplicaGcQuery } from './replica-gc.js';

interface Fake {
  rangeId: number;
  destroyed: boolean;
  isLeader: boolean;
  lead: number;
  node: { id: number };
  log: { descriptor: { epoch: { confVer: number; version: number } } | null };
}

function fake(rangeId: number, o: Partial<{ lead: number; isLeader: boolean; initialized: boolean; id: number }> = {}): Fake {
  return {
    rangeId, destroyed: false, isLeader: o.isLeader ?? false, lead: o.lead ?? 0, node: { id: o.id ?? 7 },
    log: { descriptor: o.initialized === false ? null : { epoch: { confVer: 3, version: 5 } } },
  };
}

interface Neighbours {
  /** The replica before each (by range id), for the merge guard; none by default. */
  preceding?: Map<number, Fake>;
  /** The record's current version per range id; unknown (null) when absent. */
  versions?: Map<number, number>;
}

function gc(replicas: Fake[], answer: (q: ReplicaGcQuery) => Promise<boolean | null>, maxReplicaGcChecks = 64, now = (): number => 0, n: Neighbours = {}) {
  const asked: number[] = [];
  const destroyed: number[] = [];
  const g = new ReplicaGc<unknown>({
    replicas: () => replicas as unknown as Replica<unknown>[],
    isRemoved: (q) => {
      asked.push(q.rangeId);
      return answer(q);
    },
    rangeVersion: (rangeId) => Promise.resolve(n.versions?.get(rangeId) ?? null),
    preceding: (r) => n.preceding?.get(r.rangeId) as unknown as Replica<unknown> | undefined,
    destroy: (r) => {
      destroyed.push(r.rangeId);
      (r as unknown as Fake).destroyed = true;
      return Promise.resolve(true);
    },
    log: silentLogger,
    now,
  }, { replicaGcIntervalMs: 1_000, maxReplicaGcChecks, replicaGcOverlapCheckMs: 500 });
  return { g, asked, destroyed };
}

test('a replica without a leader on two rounds in a row is checked; removed ones are destroyed, the rest kept', async () => {
  const rs = [
    fake(1), // removed
    fake(2), // PD says still a member
    fake(3), // PD cannot tell
    fake(4, { lead: 9 }), // knows a leader
    fake(5, { isLeader: true }),
    fake(6, { initialized: false }), // uninitialized: uninitialized-replicas.ts collects those
    fake(8), // the record cannot be reached
  ];
  const { g, asked, destroyed } = gc(rs, (q) => {
    if (q.rangeId === 8) return Promise.reject(new Error('PD down'));
    return Promise.resolve(q.rangeId === 1 ? true : q.rangeId === 2 ? false : null);
  });
  assert.equal(await g.round(), 0, 'first sight: not a suspect yet');
  assert.deepEqual(asked, []);
  assert.equal(await g.round(), 1);
  assert.deepEqual(asked, [1, 2, 3, 8]);
  assert.deepEqual(destroyed, [1]);
  assert.deepEqual(g.counters, { replicaGcChecks: 4, replicasCollected: 1, keptForMerge: 0 });
  // A suspect that hears a leader is no longer one.
  rs[1]!.lead = 4;
  asked.length = 0;
  await g.round();
  assert.deepEqual(asked, [3, 8]);
});

test('the answer is acted on only if the replica still has no leader and the same id', async () => {
  const r = fake(1);
  let resolve: (v: boolean) => void = () => undefined;
  const { g, destroyed } = gc([r], () => new Promise<boolean>((res) => (resolve = res)));
  await g.round();
  const round = g.round();
  await new Promise((res) => setImmediate(res));
  r.lead = 3; // a leader reached it while PD was being asked
  resolve(true);
  assert.equal(await round, 0);
  assert.deepEqual(destroyed, []);
});

test('at most maxReplicaGcChecks per round, round-robin by range id', async () => {
  const rs = Array.from({ length: 5 }, (_, i) => fake(i + 1));
  const { g, asked } = gc(rs, () => Promise.resolve(false), 2);
  await g.round();
  await g.round();
  await g.round();
  await g.round();
  assert.deepEqual(asked, [1, 2, 3, 4, 5, 1]);
});

test('removed: the record holds a newer configuration without the replica id', () => {
  const q = { rangeId: 1, replicaId: 7, confVer: 3 };
  assert.equal(removedByDescriptor(q, { confVer: 4, replicaIds: [1, 2, 3] }), true);
  assert.equal(removedByDescriptor(q, { confVer: 4, replicaIds: [1, 7, 3] }), false, 'still a member');
  assert.equal(removedByDescriptor(q, { confVer: 3, replicaIds: [1, 2, 3] }), false, 'not newer: the record may lag');
  assert.equal(removedByDescriptor(q, { confVer: 2, replicaIds: [] }), false);
});

test('checkSoon: a replica in the way of a snapshot is checked at once, no two rounds, leader known or not; at most once per replicaGcOverlapCheckMs per range', async () => {
  let now = 0;
  const removed = fake(1);
  const member = fake(2);
  // Removed while its store was away, quiescent then: it still names its old leader.
  const removedLed = fake(3, { lead: 5 });
  const leader = fake(4, { isLeader: true });
  const { g, asked, destroyed } = gc([removed, member, removedLed, leader], (q) => Promise.resolve(q.rangeId === 2 ? false : true), 64, () => now);
  assert.equal(await g.checkSoon(removed as unknown as Replica<unknown>), true);
  assert.deepEqual(destroyed, [1]);
  assert.equal(await g.checkSoon(member as unknown as Replica<unknown>), false);
  assert.equal(await g.checkSoon(removedLed as unknown as Replica<unknown>), true, 'a removed replica that names a leader goes too');
  assert.equal(await g.checkSoon(leader as unknown as Replica<unknown>), false, 'a leader is not asked about');
  assert.deepEqual(asked, [1, 2, 3]);
  assert.deepEqual(destroyed, [1, 3]);
  now = 499;
  await g.checkSoon(member as unknown as Replica<unknown>);
  assert.deepEqual(asked, [1, 2, 3], 'not again within the interval');
  now = 500;
  await g.checkSoon(member as unknown as Replica<unknown>);
  assert.deepEqual(asked, [1, 2, 3, 2]);
  assert.deepEqual(g.counters, { replicaGcChecks: 4, replicasCollected: 2, keptForMerge: 0 });
});

test('a removed replica is kept while the replica before it here is not the record\'s current version (a merge may need it), and collected once it is', async () => {
  // Range 2 merged into range 1 while this store was away; range 1's replica here (version 5)
  // has not applied the merge (the record has version 6): it needs range 2's replica to.
  const left = fake(1, { lead: 9 });
  const right = fake(2);
  const versions = new Map([[1, 6]]);
  let now = 0;
  const { g, asked, destroyed } = gc([left, right], (q) => Promise.resolve(q.rangeId === 2 ? true : false), 64, () => now, { preceding: new Map([[2, left]]), versions });
  await g.round();
  await g.round();
  assert.deepEqual(destroyed, [], 'kept: the left neighbour is behind');
  assert.equal(g.counters.keptForMerge, 1);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(asked, [2, 1], 'the neighbour is asked about at once (it may be the stale one): still a member here');
  versions.delete(1);
  now = 1_000;
  await g.round();
  assert.deepEqual(destroyed, [], 'kept: the record cannot tell the left neighbour\'s version');
  versions.set(1, 5); // it caught up (the merge applied would make it 6; here the record lags it no more)
  await g.round();
  assert.deepEqual(destroyed, [2]);
  assert.deepEqual(g.counters, { replicaGcChecks: 5, replicasCollected: 1, keptForMerge: 2 });
});

test('a removed replica kept for a stale neighbour gets that neighbour asked about; once it is collected, the kept one goes', async () => {
  // Both removed while this store was away; the left one names its old leader (quiescent
  // then), so rounds never take it, and it is in no snapshot's way.
  const left = fake(1, { lead: 9 });
  const right = fake(2);
  const { g, destroyed } = gc([left, right], () => Promise.resolve(true), 64, () => 0, { preceding: new Map([[2, left]]), versions: new Map() });
  await g.round();
  await g.round();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(destroyed, [1], 'the neighbour, removed too, is collected');
  await g.round(); // the neighbour is destroyed now: nothing holds this one back
  assert.deepEqual(destroyed, [1, 2]);
});

test('a removed replica the host does not destroy (a left replica here awaits it) is not counted as collected', async () => {
  const r = fake(1);
  const g = new ReplicaGc<unknown>({
    replicas: () => [r] as unknown as Replica<unknown>[],
    isRemoved: () => Promise.resolve(true),
    rangeVersion: () => Promise.resolve(null),
    preceding: () => undefined,
    destroy: () => Promise.resolve(false),
    log: silentLogger,
  }, { replicaGcIntervalMs: 1_000, maxReplicaGcChecks: 64, replicaGcOverlapCheckMs: 500 });
  await g.round();
  assert.equal(await g.round(), 0);
  assert.deepEqual(g.counters, { replicaGcChecks: 1, replicasCollected: 0, keptForMerge: 0 });
});
