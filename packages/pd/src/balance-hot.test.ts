// The hot-range scheduler's planner: a store leading far more writes than the mean gives
// its hottest range that fits to the coldest voter store and takes a cold one back (leader
// counts unchanged); an idle or even cluster plans nothing; applying the plans converges.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { planHotMoves, storeLoads, type HotRange } from './balance-hot.js';

const L = { hotLoadRatio: 1.5, minHotWritesPerSecond: 100, maxOperators: 2 };

function r(rangeId: number, leaderStore: number, writesPerSecond: number, o: { voters?: number[]; busy?: boolean } = {}): HotRange {
  return { rangeId, leaderStore, writesPerSecond, voterStores: o.voters ?? [1, 2, 3], busy: o.busy ?? false };
}

test('a hot store swaps its hottest range that fits for a cold one of the coldest store', () => {
  // Store 1 leads 900 w/s, stores 2 and 3 lead 30 and 0.
  const ranges = [r(1, 1, 500), r(2, 1, 300), r(3, 1, 100), r(4, 2, 20), r(5, 2, 10), r(6, 3, 0)];
  const plan = planHotMoves({ upStores: [1, 2, 3], ranges, running: 0 }, L);
  // Range 1 (500) is more than half the gap to store 3 (900 - 0): range 2 (300) goes; range 6 (0) comes back.
  assert.deepEqual(plan, [{ rangeId: 2, fromStore: 1, toStore: 3 }, { rangeId: 6, fromStore: 3, toStore: 1 }]);
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges, running: 1 }, L), [{ rangeId: 2, fromStore: 1, toStore: 3 }], 'one slot: no swap');
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges, running: 2 }, L), []);
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges: ranges.map((x) => ({ ...x, busy: x.rangeId === 2 })), running: 0 }, L)[0],
    { rangeId: 3, fromStore: 1, toStore: 3 }, 'a busy range is skipped');
});

test('idle or even: nothing; no voter on a cold store: the hottest fitting range moves a replica there', () => {
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges: [r(1, 1, 90), r(2, 2, 0)], running: 0 }, L), [], 'below minHotWritesPerSecond');
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges: [r(1, 1, 300), r(2, 2, 250), r(3, 3, 250)], running: 0 }, L), [], 'within the ratio');
  // Store 1 leads 1,100 w/s on ranges with no voter elsewhere: range 2 (200 ≤ half the gap) moves its replica to store 2.
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges: [r(1, 1, 900, { voters: [1] }), r(2, 1, 200, { voters: [1] })], running: 0 }, L),
    [{ kind: 'move', rangeId: 2, fromStore: 1, toStore: 2 }]);
  // Reads count as load too.
  assert.deepEqual(planHotMoves({ upStores: [1, 2, 3], ranges: [{ ...r(1, 1, 0), readsPerSecond: 150 }, { ...r(2, 1, 0), readsPerSecond: 150 }, r(3, 2, 0)], running: 0 }, L)[0],
    { rangeId: 1, fromStore: 1, toStore: 2 });
});

test('applying the plans converges: the hot store ends within the ratio, every move shrinks the gap', () => {
  let ranges = Array.from({ length: 30 }, (_, i) => r(i + 1, 1 + (i % 3), i < 10 ? 50 * (1 + (i % 4)) : 1)).map((x, i) => (i < 10 ? { ...x, leaderStore: 1 } : x));
  const counts = (): number[] => [1, 2, 3].map((s) => ranges.filter((x) => x.leaderStore === s).length);
  const before = counts();
  for (let round = 0; ; round++) {
    assert.ok(round < 50, 'converges');
    const plan = planHotMoves({ upStores: [1, 2, 3], ranges, running: 0 }, L);
    if (plan.length === 0) break;
    ranges = ranges.map((x) => {
      const m = plan.find((p) => p.rangeId === x.rangeId);
      return m ? { ...x, leaderStore: m.toStore } : x;
    });
    if (plan.length === 2) assert.deepEqual(counts().reduce((a, b) => a + b), before.reduce((a, b) => a + b));
  }
  const load = storeLoads({ upStores: [1, 2, 3], ranges, running: 0 });
  const mean = [...load.values()].reduce((a, b) => a + b) / 3;
  assert.ok(Math.max(...load.values()) <= mean * L.hotLoadRatio, JSON.stringify([...load]));
});
