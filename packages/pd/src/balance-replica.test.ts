// The replica balance planner on plain views: a new store fills up to the mean, moves
// prefer a follower's replica, a store short of space takes none, busy and unhealthy
// ranges stay, running moves count, and applying the plans converges without flapping.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ReplicaRole } from '@rangekv/proto';
import { lowSpace, planReplicaMoves, type BalanceStore, type ReplicaBalanceView, type ReplicaMove } from './balance-replica.js';
import type { CheckerRange } from './replica-checker.js';

const LIMITS = { tolerance: 0.1, maxOperators: 100, lowSpaceRatio: 0.8 };

function stores(ids: number[]): BalanceStore[] {
  return ids.map((id) => ({ id, capacityBytes: 100, availableBytes: 90 }));
}

function range(rangeId: number, voters: number[], o: { leader?: number; busy?: boolean; learners?: number[] } = {}): CheckerRange {
  return {
    rangeId, leaderStore: o.leader ?? voters[0]!, busy: o.busy ?? false,
    replicas: [...voters.map((storeId) => ({ storeId, role: ReplicaRole.Voter })), ...(o.learners ?? []).map((storeId) => ({ storeId, role: ReplicaRole.Learner }))],
  };
}

/** Applies moves to the view's ranges (as if the operators succeeded). */
function applyMoves(ranges: CheckerRange[], moves: readonly ReplicaMove[]): CheckerRange[] {
  return ranges.map((r) => {
    const m = moves.find((x) => x.rangeId === r.rangeId);
    if (!m) return r;
    const voters = r.replicas.map((x) => (x.storeId === m.fromStore ? m.toStore : x.storeId));
    return range(r.rangeId, voters, { leader: r.leaderStore === m.fromStore ? voters.find((s) => s !== m.toStore)! : r.leaderStore });
  });
}

function perStore(ids: number[], ranges: readonly CheckerRange[]): number[] {
  return ids.map((s) => ranges.filter((r) => r.replicas.some((x) => x.storeId === s)).length);
}

test('a balanced cluster plans nothing; a new store fills up to the mean, a follower\'s replica first', () => {
  const ranges = Array.from({ length: 12 }, (_, i) => range(i + 1, [1, 2, 3], { leader: 1 + (i % 3) }));
  assert.deepEqual(planReplicaMoves({ upStores: stores([1, 2, 3]), ranges, running: [] }, LIMITS), []);
  const plan = planReplicaMoves({ upStores: stores([1, 2, 3, 4]), ranges, running: [] }, { ...LIMITS, maxOperators: 2 });
  assert.equal(plan.length, 2, 'the budget');
  for (const m of plan) {
    assert.equal(m.toStore, 4);
    assert.notEqual(ranges.find((r) => r.rangeId === m.rangeId)!.leaderStore, m.fromStore, 'a follower replica moves, no transfer needed');
  }
  assert.notEqual(plan[0]!.fromStore, plan[1]!.fromStore, 'the sources take turns');
});

test('applying the plans converges within tolerance, each range on distinct stores, and then plans nothing', () => {
  const ids = [1, 2, 3, 4, 5];
  for (const tolerance of [0.1, 0]) {
    let ranges = Array.from({ length: 40 }, (_, i) => range(i + 1, [1, 2, 3], { leader: 1 + (i % 3) }));
    let rounds = 0;
    for (;;) {
      const plan = planReplicaMoves({ upStores: stores(ids), ranges, running: [] }, { ...LIMITS, tolerance, maxOperators: 4 });
      if (plan.length === 0) break;
      ranges = applyMoves(ranges, plan);
      assert.ok(++rounds < 100, 'converges');
    }
    const counts = perStore(ids, ranges);
    assert.equal(counts.reduce((a, b) => a + b, 0), 120);
    // mean 24: within [ceil(24 × 0.9), floor(24 × 1.1)] = [22, 26]; with tolerance 0, within 1 of each other.
    if (tolerance > 0) assert.ok(counts.every((n) => n >= 22 && n <= 26), `replicas per store ${counts.join(',')}`);
    else assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `replicas per store ${counts.join(',')}`);
    for (const r of ranges) assert.equal(new Set(r.replicas.map((x) => x.storeId)).size, 3, `range ${r.rangeId}: three distinct stores`);
  }
});

test('a store short of space takes nothing; busy, learner-holding and unhealthy ranges stay; running moves count', () => {
  const ranges = Array.from({ length: 6 }, (_, i) => range(i + 1, [1, 2, 3], { leader: 1 }));
  const full = [...stores([1, 2, 3]), { id: 4, capacityBytes: 100, availableBytes: 15 }];
  assert.ok(lowSpace(full[3]!, 0.8));
  assert.ok(!lowSpace({ id: 9, capacityBytes: 0, availableBytes: 0 }, 0.8), 'unknown capacity is not short of space');
  assert.deepEqual(planReplicaMoves({ upStores: full, ranges, running: [] }, LIMITS), []);
  const stuck = [
    range(1, [1, 2, 3], { busy: true }), range(2, [1, 2, 3], { learners: [5] }), range(3, [1, 2, 9]),
    range(4, [1, 2, 3]), range(5, [1, 2, 3]), range(6, [1, 2, 3]),
  ];
  const plan = planReplicaMoves({ upStores: stores([1, 2, 3, 4]), ranges: stuck, running: [] }, LIMITS);
  assert.ok(plan.every((m) => m.rangeId >= 4), JSON.stringify(plan));
  // Two moves already running towards store 4: with 18 replicas over 4 stores, that is enough.
  const view: ReplicaBalanceView = {
    upStores: stores([1, 2, 3, 4]), ranges,
    running: [{ rangeId: 1, fromStore: 2, toStore: 4 }, { rangeId: 2, fromStore: 3, toStore: 4 }],
  };
  const more = planReplicaMoves(view, LIMITS);
  assert.ok(more.every((m) => m.rangeId > 2), 'a range with a running move is not planned again');
  assert.ok(more.length <= 2, JSON.stringify(more));
  assert.deepEqual(planReplicaMoves(view, { ...LIMITS, maxOperators: 2 }), [], 'the running moves use the budget up');
});

test('the plan does not depend on the order of the view', () => {
  const ranges = Array.from({ length: 30 }, (_, i) => range(i + 1, [1 + (i % 4), 1 + ((i + 1) % 4), 1 + ((i + 2) % 4)]));
  const a = planReplicaMoves({ upStores: stores([1, 2, 3, 4, 5, 6]), ranges, running: [] }, { ...LIMITS, maxOperators: 8 });
  const b = planReplicaMoves({ upStores: stores([6, 5, 4, 3, 2, 1]), ranges: [...ranges].reverse(), running: [] }, { ...LIMITS, maxOperators: 8 });
  assert.equal(a.length, 8);
  assert.deepEqual(a, b);
});

test('with location levels, a move never makes a range less isolated', () => {
  // Stores 1-3 in zones a, b, c hold everything; store 4 joins in zone a: it may only take
  // replicas from store 1 (the other zone-a store), never from b or c.
  const zone: Record<number, string> = { 1: 'a', 2: 'b', 3: 'c', 4: 'a' };
  const placement = { levels: ['zone'], labelsOf: (id: number) => ({ zone: zone[id]! }) };
  const ranges = Array.from({ length: 12 }, (_, i) => range(i + 1, [1, 2, 3], { leader: 2 }));
  const plan = planReplicaMoves({ upStores: stores([1, 2, 3, 4]), ranges, running: [], placement }, LIMITS);
  assert.ok(plan.length > 0);
  assert.ok(plan.every((m) => m.fromStore === 1 && m.toStore === 4), JSON.stringify(plan));
});
