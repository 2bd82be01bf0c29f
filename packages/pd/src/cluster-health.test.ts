import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ReplicaRole } from '@rangekv/proto';
import { clusterHealth, emptyClusterHealth, storeHealthState, type HealthRange, type HealthStore } from './cluster-health.js';

const LIMITS = { storeDownAfterMs: 10_000, replicaCount: 3, maxReportAgeMs: 30_000 };
const V = ReplicaRole.Voter;

function range(rangeId: number, stores: readonly number[], leaderStore: number, reportAgeMs = 0, roles: Record<number, ReplicaRole> = {}): HealthRange {
  return { rangeId, replicas: stores.map((storeId) => ({ storeId, role: roles[storeId] ?? V })), leaderStore, reportAgeMs };
}

test('stores by state: tombstone and offline from the decommission state, else up within storeDownAfterMs', () => {
  const s = (state: HealthStore['state'], heartbeatAgeMs: number): HealthStore => ({ id: 1, state, heartbeatAgeMs });
  assert.equal(storeHealthState(s('serving', 10_000), 10_000), 'up', 'the limit itself is still up');
  assert.equal(storeHealthState(s('serving', 10_001), 10_000), 'down');
  assert.equal(storeHealthState(s('offline', 99_999), 10_000), 'offline', 'offline wins over down');
  assert.equal(storeHealthState(s('tombstone', 0), 10_000), 'tombstone');
  const h = clusterHealth([
    { id: 1, state: 'serving', heartbeatAgeMs: 0 }, { id: 2, state: 'serving', heartbeatAgeMs: 50_000 },
    { id: 3, state: 'offline', heartbeatAgeMs: 0 }, { id: 4, state: 'tombstone', heartbeatAgeMs: 0 }, { id: 5, state: 'serving', heartbeatAgeMs: 5 },
  ], [], LIMITS);
  assert.deepEqual(h.storesByState, { up: 2, down: 1, offline: 1, tombstone: 1 });
  assert.deepEqual([h.rangesUnderReplicated, h.rangesWithoutLeader], [0, 0]);
});

test('under-replicated: fewer than replicaCount voters (Voter, VoterIncoming) on live stores; an offline store still heartbeating counts', () => {
  const stores: HealthStore[] = [1, 2, 3, 4].map((id) => ({ id, state: 'serving', heartbeatAgeMs: 0 }));
  stores.push({ id: 5, state: 'serving', heartbeatAgeMs: 60_000 }, { id: 6, state: 'offline', heartbeatAgeMs: 0 }, { id: 7, state: 'offline', heartbeatAgeMs: 60_000 },
    { id: 8, state: 'tombstone', heartbeatAgeMs: 0 });
  const cases: [HealthRange, boolean][] = [
    [range(1, [1, 2, 3], 1), false],
    [range(2, [1, 2], 1), true],
    [range(3, [1, 2, 5], 1), true],
    [range(4, [1, 2, 3, 5], 1), false],
    [range(5, [1, 2, 4], 1, 0, { 4: ReplicaRole.Learner }), true],
    [range(6, [1, 2, 4], 1, 0, { 4: ReplicaRole.VoterIncoming }), false],
    [range(7, [1, 2, 3, 4], 1, 0, { 3: ReplicaRole.VoterDemoting, 4: ReplicaRole.VoterIncoming }), false],
    [range(8, [1, 2, 3], 1, 0, { 3: ReplicaRole.VoterOutgoing }), true],
    [range(9, [1, 2, 6], 1), false],
    [range(10, [1, 2, 7], 1), true],
    [range(11, [1, 2, 8], 1), true],
  ];
  for (const [r, under] of cases) {
    assert.equal(clusterHealth(stores, [r], LIMITS).rangesUnderReplicated, under ? 1 : 0, `range ${r.rangeId}`);
  }
  assert.equal(clusterHealth(stores, cases.map((c) => c[0]), LIMITS).rangesUnderReplicated, cases.filter((c) => c[1]).length);
  assert.equal(clusterHealth(stores, [range(2, [1, 2], 1)], { ...LIMITS, replicaCount: 2 }).rangesUnderReplicated, 0, 'replicaCount is the target');
});

test('without a leader: none named, the leader\'s store not live, or the newest report older than maxReportAgeMs', () => {
  const stores: HealthStore[] = [
    { id: 1, state: 'serving', heartbeatAgeMs: 0 }, { id: 2, state: 'serving', heartbeatAgeMs: 0 }, { id: 3, state: 'serving', heartbeatAgeMs: 20_000 },
    { id: 4, state: 'offline', heartbeatAgeMs: 0 },
  ];
  const cases: [HealthRange, boolean][] = [
    [range(1, [1, 2, 3], 1), false],
    [range(2, [1, 2, 3], 0), true],
    [range(3, [1, 2, 3], 3), true],
    [range(4, [1, 2, 3], 2, 30_000), false],
    [range(5, [1, 2, 3], 2, 30_001), true],
    [range(6, [1, 2, 4], 4), false],
    [range(7, [1, 2, 3], 9), true],
  ];
  for (const [r, without] of cases) {
    assert.equal(clusterHealth(stores, [r], LIMITS).rangesWithoutLeader, without ? 1 : 0, `range ${r.rangeId}`);
  }
  assert.equal(clusterHealth(stores, cases.map((c) => c[0]), LIMITS).rangesWithoutLeader, 4);
});

test('a follower\'s counts are all zero', () => {
  assert.deepEqual(emptyClusterHealth(), { storesByState: { up: 0, down: 0, offline: 0, tombstone: 0 }, rangesUnderReplicated: 0, rangesWithoutLeader: 0 });
});
