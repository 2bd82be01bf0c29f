// The replica checker's planner on plain data: dead stores' replicas are replaced on the
// least-loaded live store, short ranges get a voter, extra voters and stray learners go,
// a store that is only DOWN is waited for, and the budget and busy ranges are respected.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ReplicaRole } from '@rangekv/proto';
import { planReplicaFixes, type CheckerRange, type CheckerStore, type ReplicaCheckLimits } from './replica-checker.js';

const LIMITS: ReplicaCheckLimits = { replicaCount: 3, maxStoreDownTimeMs: 60_000, maxOperators: 100 };
const V = ReplicaRole.Voter;
const L = ReplicaRole.Learner;

function stores(up: number[], down: Array<[number, number]> = []): CheckerStore[] {
  return [...up.map((id) => ({ id, up: true, downForMs: 0 })), ...down.map(([id, ms]) => ({ id, up: false, downForMs: ms }))];
}

function range(rangeId: number, voters: number[], o: { learners?: number[]; leader?: number; busy?: boolean } = {}): CheckerRange {
  return {
    rangeId, leaderStore: o.leader ?? voters[0]!, busy: o.busy ?? false,
    replicas: [...voters.map((storeId) => ({ storeId, role: V })), ...(o.learners ?? []).map((storeId) => ({ storeId, role: L }))],
  };
}

test('a healthy cluster needs nothing; a store that is only DOWN is waited for', () => {
  const ranges = [range(1, [1, 2, 3]), range(2, [2, 3, 4]), range(3, [1, 3, 4])];
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4]), ranges, running: 0 }, LIMITS), []);
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3], [[4, 59_999]]), ranges, running: 0 }, LIMITS), [], 'down, not dead');
});

test('the replicas of a dead store are replaced on the live stores holding the fewest replicas', () => {
  // Store 4 is dead; stores 5 and 6 are empty: the three replacements spread over them.
  const ranges = [range(1, [1, 2, 4]), range(2, [2, 3, 4]), range(3, [1, 3, 4]), range(4, [1, 2, 3])];
  const plan = planReplicaFixes({ stores: stores([1, 2, 3, 5, 6], [[4, 60_000]]), ranges, running: 0 }, LIMITS);
  assert.deepEqual(plan, [
    { kind: 'replace', rangeId: 1, fromStore: 4, toStore: 5 },
    { kind: 'replace', rangeId: 2, fromStore: 4, toStore: 6 },
    { kind: 'replace', rangeId: 3, fromStore: 4, toStore: 5 },
  ]);
  // With no store free of a replica, the dead voter stays (it still sizes the quorum).
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3], [[4, 60_000]]), ranges: [range(1, [1, 2, 4]), range(2, [1, 2, 3])], running: 0 }, LIMITS),
    [{ kind: 'replace', rangeId: 1, fromStore: 4, toStore: 3 }]);
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2], [[3, 60_000]]), ranges: [range(1, [1, 2, 3])], running: 0 }, LIMITS), []);
});

test('ranges with the fewest live voters come first; the budget counts running operators; busy ranges wait', () => {
  const view = {
    stores: stores([1, 2, 5, 6], [[3, 90_000], [4, 90_000]]),
    ranges: [range(1, [1, 2, 3]), range(2, [1, 3, 4]), range(3, [2, 4, 5], { busy: true }), range(4, [1, 2, 4])],
    running: 1,
  };
  const plan = planReplicaFixes(view, { ...LIMITS, maxOperators: 3 });
  assert.deepEqual(plan.map((f) => f.rangeId), [2, 1], 'range 2 has one live voter: first; range 3 is busy; budget 3 - 1 running');
  assert.deepEqual(planReplicaFixes(view, { ...LIMITS, maxOperators: 1 }), [], 'the running ones use the budget up');
});

test('a short range gets a voter; an extra voter goes (a DOWN store first, then the most loaded store, not the leader on ties)', () => {
  const base = [range(10, [1, 2, 3]), range(11, [1, 2, 3])];
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4]), ranges: [...base, range(1, [1, 2])], running: 0 }, LIMITS),
    [{ kind: 'add', rangeId: 1, toStore: 4 }]);
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3], [[4, 1_000]]), ranges: [...base, range(1, [1, 2, 3, 4])], running: 0 }, LIMITS),
    [{ kind: 'remove', rangeId: 1, fromStore: 4, why: 'extra voter' }], 'the voter on the DOWN store');
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4]), ranges: [...base, range(1, [1, 2, 3, 4], { leader: 1 })], running: 0 }, LIMITS),
    [{ kind: 'remove', rangeId: 1, fromStore: 3, why: 'extra voter' }], 'stores 1-3 hold 3 each: not the leader, the highest id');
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4, 5], [[6, 60_000]]), ranges: [range(1, [1, 2, 3, 6])], running: 0 }, LIMITS),
    [{ kind: 'remove', rangeId: 1, fromStore: 6, why: 'dead voter' }], 'a dead voter beyond the count is removed, not replaced');
});

test('a learner on a dead store is removed; a stray learner on a live store goes once the voters are complete', () => {
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3], [[4, 60_000]]), ranges: [range(1, [1, 2, 3], { learners: [4] })], running: 0 }, LIMITS),
    [{ kind: 'remove', rangeId: 1, fromStore: 4, why: 'dead learner' }]);
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4]), ranges: [range(1, [1, 2, 3], { learners: [4] })], running: 0 }, LIMITS),
    [{ kind: 'remove', rangeId: 1, fromStore: 4, why: 'orphan learner' }]);
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4]), ranges: [range(1, [1, 2, 3], { learners: [4], busy: true })], running: 0 }, LIMITS),
    [], 'a learner an operator is adding is left alone');
});

test('the plan does not depend on the order of the view', () => {
  const ss = stores([1, 2, 3, 5, 6, 7], [[4, 70_000]]);
  const rs = Array.from({ length: 30 }, (_, i) => range(i + 1, [1 + (i % 3), 4, 5 + (i % 3)]));
  const a = planReplicaFixes({ stores: ss, ranges: rs, running: 0 }, LIMITS);
  const b = planReplicaFixes({ stores: [...ss].reverse(), ranges: [...rs].reverse(), running: 0 }, LIMITS);
  assert.equal(a.length, 30);
  assert.deepEqual(a, b);
  // The 30 new replicas spread over the stores that hold fewest: no store gets more than its share plus one.
  const got = new Map<number, number>();
  for (const f of a) if (f.kind === 'replace') got.set(f.toStore, (got.get(f.toStore) ?? 0) + 1);
  const load = (s: number): number => rs.filter((r) => r.replicas.some((x) => x.storeId === s)).length + (got.get(s) ?? 0);
  const after = [1, 2, 3, 5, 6, 7].map(load);
  assert.ok(Math.max(...after) - Math.min(...after) <= 1, `replicas per live store after: ${after.join(',')}`);
});

test('an offline store (decommissioning) is left like a dead one while it still serves, and is never a target', () => {
  const ss: CheckerStore[] = [...stores([1, 2, 3, 5]), { id: 4, up: true, downForMs: 0, offline: true }];
  const plan = planReplicaFixes({ stores: ss, ranges: [range(1, [1, 2, 4]), range(2, [2, 3, 4], { learners: [1] }), range(3, [1, 2, 3])], running: 0 }, LIMITS);
  assert.deepEqual(plan, [
    { kind: 'replace', rangeId: 1, fromStore: 4, toStore: 5 },
    { kind: 'replace', rangeId: 2, fromStore: 4, toStore: 5 }, // store 1 holds a learner of range 2: only store 5 is free
  ]);
  assert.deepEqual(planReplicaFixes({ stores: ss, ranges: [range(1, [1, 2]), range(2, [1, 2, 3, 5])], running: 0 }, LIMITS),
    [{ kind: 'add', rangeId: 1, toStore: 3 }, { kind: 'remove', rangeId: 2, fromStore: 3, why: 'extra voter' }], 'never onto store 4');
  assert.deepEqual(planReplicaFixes({ stores: ss, ranges: [range(1, [1, 2, 3], { learners: [4] })], running: 0 }, LIMITS),
    [{ kind: 'remove', rangeId: 1, fromStore: 4, why: 'offline learner' }]);
});

test('with location levels: new replicas go where they isolate best, and a crowded zone is spread', () => {
  const zone: Record<number, string> = { 1: 'a', 2: 'a', 3: 'b', 4: 'c', 5: 'c', 6: 'b' };
  const placement = { levels: ['zone', 'host'], labelsOf: (id: number) => ({ zone: zone[id] ?? '', host: `h${id}` }) };
  // Two replicas in zone a: one of them moves to zone c (store 4, the less loaded there).
  const crowded = planReplicaFixes({ stores: stores([1, 2, 3, 4, 5]), ranges: [range(1, [1, 2, 3], { leader: 1 }), range(2, [3, 5, 1])], running: 0, placement }, LIMITS);
  assert.deepEqual(crowded, [{ kind: 'replace', rangeId: 1, fromStore: 1, toStore: 4, why: 'isolation' }]);
  // Already one per zone: nothing.
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4]), ranges: [range(1, [1, 3, 4])], running: 0, placement }, LIMITS), []);
  // A dead store's replica goes to the zone the range lacks, though another store holds fewer replicas.
  const dead = planReplicaFixes({
    stores: [...stores([1, 2, 3, 6]), { id: 4, up: false, downForMs: 60_000 }],
    ranges: [range(1, [1, 3, 4]), range(2, [1, 3, 2]), range(3, [6, 2, 1])], running: 0,
    placement: { levels: ['zone'], labelsOf: (id: number) => ({ zone: id === 2 ? 'c' : zone[id]! }) },
  }, LIMITS);
  assert.deepEqual(dead, [{ kind: 'replace', rangeId: 1, fromStore: 4, toStore: 2 }]);
  // Without levels the labels do not matter (the least loaded store).
  assert.deepEqual(planReplicaFixes({ stores: stores([1, 2, 3, 4, 5]), ranges: [range(1, [1, 2, 3])], running: 0, placement: { ...placement, levels: [] } }, LIMITS), []);
});
