// planLeaderTransfers on plain views: balanced layouts are left alone, skewed ones move
// towards the mean (never to a DOWN store, a non-voter or a learner), within the
// operator budget, and the same view always gives the same plan.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { planLeaderTransfers, type BalanceRange, type LeaderBalanceView, type LeaderTransfer } from './balance-leader.js';

const LIMITS = { tolerance: 0.1, maxOperators: 4 };

/** `n` ranges (ids from `firstId`) led by `leader`, voters on `voters`. */
function ranges(n: number, leader: number, voters: readonly number[], firstId = 1): BalanceRange[] {
  return Array.from({ length: n }, (_, i) => ({ rangeId: firstId + i, leaderStore: leader, voterStores: voters, busy: false, transferTo: 0 }));
}

/** Ranges led per store as given (ids in order), every range with a voter on each of `stores`. */
function layout(perStore: Record<number, number>, stores: readonly number[]): BalanceRange[] {
  const out: BalanceRange[] = [];
  for (const [s, n] of Object.entries(perStore)) out.push(...ranges(n, Number(s), stores, out.length + 1));
  return out;
}

/** Applies plans until none is left, as if every operator succeeded at once; the final leaders per store. */
function converge(view: LeaderBalanceView, limits = LIMITS): { counts: Map<number, number>; moves: number } {
  let rs = view.ranges.map((r) => ({ ...r }));
  let moves = 0;
  for (let round = 0; round < 1_000; round++) {
    const plan = planLeaderTransfers({ ...view, ranges: rs }, limits);
    if (plan.length === 0) break;
    moves += plan.length;
    const by = new Map(plan.map((t) => [t.rangeId, t]));
    rs = rs.map((r) => (by.has(r.rangeId) ? { ...r, leaderStore: by.get(r.rangeId)!.toStore } : r));
  }
  const counts = new Map(view.upStores.map((s) => [s, 0]));
  for (const r of rs) if (counts.has(r.leaderStore)) counts.set(r.leaderStore, counts.get(r.leaderStore)! + 1);
  return { counts, moves };
}

test('a balanced layout: nothing to do', () => {
  const s = [1, 2, 3];
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 10, 2: 10, 3: 10 }, s), running: 0 }, LIMITS), []);
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 11, 2: 10, 3: 9 }, s), running: 0 }, LIMITS), [], 'within tolerance');
  // Mean 1 ± 10 % is 1 in whole leaders: 2 / 1 / 0 is out of it, and one move evens it.
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 2, 2: 1, 3: 0 }, s), running: 0 }, LIMITS), [{ rangeId: 1, fromStore: 1, toStore: 3 }]);
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 2, 2: 1, 3: 1 }, s), running: 0 }, LIMITS), [], 'a spread of 1: no move can shrink it');
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 1 }, s), running: 0 }, LIMITS), [], 'one leader cannot be spread');
  assert.deepEqual(planLeaderTransfers({ upStores: [1], ranges: layout({ 1: 9 }, [1]), running: 0 }, LIMITS), [], 'one Up store');
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: [], running: 0 }, LIMITS), []);
});

test('every leader on one store: moves to the others, least loaded first, up to maxOperators', () => {
  const s = [1, 2, 3];
  const plan = planLeaderTransfers({ upStores: s, ranges: layout({ 1: 30 }, s), running: 0 }, LIMITS);
  assert.deepEqual(plan, [
    { rangeId: 1, fromStore: 1, toStore: 2 }, { rangeId: 2, fromStore: 1, toStore: 3 },
    { rangeId: 3, fromStore: 1, toStore: 2 }, { rangeId: 4, fromStore: 1, toStore: 3 },
  ]);
  assert.equal(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 30 }, s), running: 3 }, LIMITS).length, 1, 'running ones count');
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: layout({ 1: 30 }, s), running: 4 }, LIMITS), []);
  const { counts } = converge({ upStores: s, ranges: layout({ 1: 30 }, s), running: 0 });
  assert.deepEqual([...counts.values()], [11, 10, 9], 'within 10 % of the mean of 10: done');
  const odd = converge({ upStores: s, ranges: layout({ 1: 25 }, s), running: 0 }).counts;
  assert.ok([...odd.values()].every((c) => Math.abs(c - 25 / 3) <= 2), JSON.stringify([...odd]));
});

test('a DOWN store is never a target and its leaders are not counted', () => {
  const voters = [1, 2, 3, 4];
  const view: LeaderBalanceView = { upStores: [1, 2, 3], ranges: layout({ 1: 12, 4: 5 }, voters), running: 0 };
  const plan = planLeaderTransfers(view, { tolerance: 0.1, maxOperators: 100 });
  assert.ok(plan.length > 0);
  assert.ok(plan.every((t) => t.toStore !== 4 && t.fromStore !== 4), JSON.stringify(plan));
  // The mean is over Up stores only (12 / 3 = 4).
  assert.ok([...converge(view).counts.values()].every((c) => Math.abs(c - 4) <= 1));
});

test('only full voters are targets: never a learner, a joint role or a store without a replica', () => {
  // Store 3 is a learner of every range (not in voterStores); store 4 holds nothing.
  const rs = ranges(9, 1, [1, 2]);
  const plan = planLeaderTransfers({ upStores: [1, 2, 3, 4], ranges: rs, running: 0 }, { tolerance: 0.1, maxOperators: 100 });
  assert.ok(plan.length > 0 && plan.every((t) => t.toStore === 2), JSON.stringify(plan));
  const nowhere = planLeaderTransfers({ upStores: [1, 2, 3], ranges: ranges(9, 1, [1]), running: 0 }, LIMITS);
  assert.deepEqual(nowhere, [], 'no other voter: nowhere to go');
});

test('busy ranges stay; a running transfer counts at its target', () => {
  const s = [1, 2];
  const rs = layout({ 1: 6 }, s).map((r) => ({ ...r, busy: r.rangeId <= 5 }));
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: rs, running: 0 }, LIMITS), [{ rangeId: 6, fromStore: 1, toStore: 2 }]);
  // 8 leaders on store 1, two transfers to store 2 running: counted as 6 / 2, so two more
  // moves (4 / 4), which the budget allows, and not a third.
  const inFlight = layout({ 1: 8 }, s).map((r) => (r.rangeId <= 2 ? { ...r, busy: true, transferTo: 2 } : r));
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: inFlight, running: 2 }, { ...LIMITS, maxOperators: 5 }),
    [{ rangeId: 3, fromStore: 1, toStore: 2 }, { rangeId: 4, fromStore: 1, toStore: 2 }]);
});

test('tolerance: a store within it is left alone, beyond it leaders move', () => {
  const s = [1, 2, 3];
  // mean 10: 12 is above floor(11) at 10 %, within floor(12.5) at 25 %.
  const rs = layout({ 1: 12, 2: 9, 3: 9 }, s);
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: rs, running: 0 }, { tolerance: 0.25, maxOperators: 4 }), []);
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: rs, running: 0 }, LIMITS), [{ rangeId: 1, fromStore: 1, toStore: 2 }]);
  // An under-loaded store pulls leaders too: mean 7.5 ± 10 % is 7..8 in whole leaders.
  const low = layout({ 1: 9, 2: 9, 3: 9, 4: 3 }, [1, 2, 3, 4]);
  const { counts } = converge({ upStores: [1, 2, 3, 4], ranges: low, running: 0 });
  assert.deepEqual([...counts.values()].sort(), [7, 7, 8, 8]);
  // Tolerance 0: as even as whole leaders allow.
  const even = converge({ upStores: s, ranges: layout({ 1: 25 }, s), running: 0 }, { tolerance: 0, maxOperators: 4 });
  assert.deepEqual([...even.counts.values()].sort(), [8, 8, 9]);
});

test('never flaps: a converged layout plans nothing, and convergence takes few moves', () => {
  const s = [1, 2, 3, 4, 5];
  const view: LeaderBalanceView = { upStores: s, ranges: layout({ 1: 40, 2: 3, 5: 7 }, s), running: 0 };
  const { counts, moves } = converge(view);
  const mean = 50 / 5;
  assert.ok([...counts.values()].every((c) => Math.abs(c - mean) <= 1), JSON.stringify([...counts]));
  assert.ok(moves <= 40 - mean + 3, `${moves} moves`);
});

test('deterministic: the same view (in any order) gives the same plan', () => {
  const s = [3, 1, 2];
  const rs = [...layout({ 1: 7, 2: 1 }, [1, 2, 3]), ...ranges(5, 3, [1, 2, 3], 100)];
  const a = planLeaderTransfers({ upStores: s, ranges: rs, running: 0 }, LIMITS);
  const b: LeaderTransfer[] = planLeaderTransfers({ upStores: [...s].reverse(), ranges: [...rs].reverse(), running: 0 }, LIMITS);
  assert.deepEqual(a, b);
  assert.deepEqual(a[0], { rangeId: 1, fromStore: 1, toStore: 2 }, 'most loaded store first, lowest range id, least loaded target');
});

test('an evicted (slow) store: its leaders go first, to the least-loaded other voter, tolerance aside; it is never a target', () => {
  const s = [1, 2, 3];
  // Balanced, but store 2 is evicted: its 3 leaders go to stores 3 and 1 (fewest first, lowest id on ties).
  const view: LeaderBalanceView = { upStores: s, ranges: layout({ 1: 3, 2: 3, 3: 2 }, s), running: 0, evictStores: [2] };
  assert.deepEqual(planLeaderTransfers(view, { tolerance: 0.1, maxOperators: 10 }), [
    { rangeId: 4, fromStore: 2, toStore: 3, evict: true }, { rangeId: 5, fromStore: 2, toStore: 1, evict: true },
    { rangeId: 6, fromStore: 2, toStore: 3, evict: true },
  ]);
  assert.equal(planLeaderTransfers(view, { tolerance: 0.1, maxOperators: 2 }).length, 2, 'within the budget');
  const { counts } = converge({ ...view, upStores: s });
  assert.equal(counts.get(2), 0, 'nothing moves back while it is evicted');
  assert.deepEqual([counts.get(1), counts.get(3)], [4, 4]);
  // Busy ranges and running transfers stay; a range whose only other voters are evicted or DOWN stays too.
  const rs = layout({ 2: 3 }, s);
  rs[0]!.busy = true;
  rs[1]!.transferTo = 1;
  rs[2]!.voterStores = [2, 4];
  assert.deepEqual(planLeaderTransfers({ upStores: s, ranges: rs, running: 0, evictStores: [2] }, LIMITS), []);
});
